using System.Diagnostics;
using System.Globalization;
using Npgsql;

// The failover benchmark's client: one connection through a proxy port, an insert every 20 ms, a fresh connection
// (no pool) after any error. Prints the wall-clock milliseconds of every acknowledged insert, one per line, until the
// stop file exists or the time limit passes. Usage: PgRaft.FailoverWriter HOST PORT STOP_FILE MAX_SECONDS (PGPASSWORD set).
if (args.Length != 4 || !int.TryParse(args[1], out var port) || !int.TryParse(args[3], out var maxSeconds))
{
    Console.Error.WriteLine("usage: PgRaft.FailoverWriter HOST PORT STOP_FILE MAX_SECONDS   (password in PGPASSWORD)");
    return 2;
}

var connectionString = new NpgsqlConnectionStringBuilder
{
    Host = args[0],
    Port = port,
    Username = "postgres",
    Database = "postgres",
    Password = Environment.GetEnvironmentVariable("PGPASSWORD"),
    Pooling = false,
    Timeout = 1,
    CommandTimeout = 2,
    // Opening a connection must not wait out a proxy's hold for longer than the insert cadence matters.
    TcpKeepAlive = true,
}.ConnectionString;

var limit = Stopwatch.StartNew();
NpgsqlConnection? connection = null;
var failures = 0;
using var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
while (!File.Exists(args[2]) && limit.Elapsed < TimeSpan.FromSeconds(maxSeconds))
{
    try
    {
        var reconnecting = connection is null && failures > 0;
        var started = Stopwatch.GetTimestamp();
        if (connection is null)
        {
            connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
        }

        var opened = Stopwatch.GetTimestamp();
        await using var insert = new NpgsqlCommand("INSERT INTO bench DEFAULT VALUES", connection);
        await insert.ExecuteNonQueryAsync();
        if (reconnecting)
        {
            // Where a reconnect's time goes (the proxy's hold, or the first commit's wait), for the logs.
            Console.Error.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} reconnected: open {Stopwatch.GetElapsedTime(started, opened).TotalMilliseconds:F0} ms, first insert {Stopwatch.GetElapsedTime(opened).TotalMilliseconds:F0} ms");
        }

        output.WriteLine(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
    }
    catch (Exception e)
    {
        // Any failure is simply an insert that was not acknowledged; say which, for the logs.
        Console.Error.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {e.GetType().Name}: {e.Message}");
        failures++;
        if (connection is not null)
        {
            await connection.DisposeAsync();
            connection = null;
        }
    }

    await Task.Delay(20);
}

if (connection is not null)
{
    await connection.DisposeAsync();
}

// The end of the window: a write outage still going on when the run stops counts up to here.
output.WriteLine("end " + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
return 0;

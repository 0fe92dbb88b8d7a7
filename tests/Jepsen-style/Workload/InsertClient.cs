using System.Net;
using Npgsql;
using PgRaft.JepsenStyle.Harness;

namespace PgRaft.JepsenStyle.Workload;

/// <summary>
/// One client inserting (client id, sequence) rows one at a time over one connection, opening a fresh connection after
/// any error. It never retries a key, and cancels a statement only after <see cref="Watchdog"/> (counting it unknown
/// whatever the answer): a cancelled wait for synchronous replication is reported to the client as a success, which
/// would make an acknowledgement mean nothing.
/// </summary>
internal sealed class InsertClient(int id, string connectionString, OperationLog operations, RunLog clock, Func<IPAddress, int?> nodeOf)
{
    /// <summary>The statement's own bound: a commit stuck longer than this is given up as unknown.</summary>
    private static readonly TimeSpan Watchdog = TimeSpan.FromSeconds(30);

    private const string Insert = "insert into jepsen_writes (client, seq) values ($1, $2) returning host(inet_server_addr())";

    public int Id => id;

    /// <summary>
    /// Inserts until <paramref name="stop"/> (checked between inserts) or <paramref name="maxOperations"/>;
    /// <paramref name="abort"/> breaks an insert in flight (teardown only).
    /// </summary>
    public async Task RunAsync(int maxOperations, TimeSpan pause, CancellationToken stop, CancellationToken abort)
    {
        NpgsqlConnection? connection = null;
        string? warning = null;
        try
        {
            for (var seq = 1; seq <= maxOperations && !stop.IsCancellationRequested && !abort.IsCancellationRequested; seq++)
            {
                var start = clock.Now;
                if (connection is null)
                {
                    try
                    {
                        connection = new NpgsqlConnection(connectionString);
                        connection.Notice += (_, e) => warning = e.Notice.MessageText;
                        await connection.OpenAsync(abort);
                    }
                    catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException && !abort.IsCancellationRequested)
                    {
                        // Nothing was sent: the key was certainly not written.
                        operations.Add(new Operation(new Key(id, seq), start, clock.Now, Outcome.Failed, null, "connect: " + Describe(ex)));
                        await DisposeAsync(connection);
                        connection = null;
                        await Task.Delay(100, abort);
                        continue;
                    }
                }

                warning = null;
                var (outcome, ackedBy, error) = await InsertAsync(connection, new Key(id, seq), abort);
                operations.Add(new Operation(new Key(id, seq), start, clock.Now, outcome, ackedBy, error, outcome == Outcome.Ok ? warning : null));
                if (outcome != Outcome.Ok)
                {
                    await DisposeAsync(connection);
                    connection = null;
                }

                await Task.Delay(pause, abort);
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
        }
        finally
        {
            await DisposeAsync(connection);
        }
    }

    private async Task<(Outcome Outcome, int? AckedBy, string? Error)> InsertAsync(NpgsqlConnection connection, Key key, CancellationToken abort)
    {
        using var watchdog = CancellationTokenSource.CreateLinkedTokenSource(abort);
        watchdog.CancelAfter(Watchdog);
        try
        {
            await using var command = new NpgsqlCommand(Insert, connection) { Parameters = { new() { Value = key.Client }, new() { Value = key.Seq } } };
            var server = (string?)await command.ExecuteScalarAsync(watchdog.Token);
            return (Outcome.Ok, server is null ? null : nodeOf(IPAddress.Parse(server)), null);
        }
        catch (PostgresException ex) when (ex.InvariantSeverity == "ERROR")
        {
            // An ERROR aborts the transaction: nothing committed (read-only standby, and the like).
            return (Outcome.Failed, null, Describe(ex));
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or OperationCanceledException)
        {
            // FATAL (the session was ended, maybe after a local commit) or a broken connection: the commit may have happened.
            return (Outcome.Unknown, null, Describe(ex));
        }
    }

    private static string Describe(Exception ex) => ex is PostgresException pg ? $"{pg.SqlState} {pg.MessageText}" : $"{ex.GetType().Name}: {ex.Message}";

    private static async Task DisposeAsync(NpgsqlConnection? connection)
    {
        if (connection is not null)
        {
            try
            {
                await connection.DisposeAsync();
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException)
            {
                // A broken connection may complain about being closed; it is gone either way.
            }
        }
    }
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Npgsql;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Tests.Fixtures;

namespace PgRaft.Proxy.Tests;

/// <summary>Real PostgreSQL traffic through the proxy gives the same results as direct.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ForwardingTests(PostgresCluster cluster)
{
    [Theory]
    [InlineData(nameof(ForwardingMode.Pooled), 100)]
    [InlineData(nameof(ForwardingMode.Splice), 100)]
    [InlineData(nameof(ForwardingMode.Epoll), 100)]
    public async Task Copy_in_and_out_through_the_proxy_carries_every_byte(string modeName, int megabytes)
    {
        var mode = Enum.Parse<ForwardingMode>(modeName);
        var server = cluster.Primary;
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(server.Port), mode: mode);
        var table = "copy_" + mode.ToString().ToLowerInvariant();
        await using var connection = await server.OpenAsync(proxy.Port);
        await Execute(connection, $"drop table if exists {table}; create unlogged table {table} (id int, payload text)");

        // About 1 KiB per row, deterministic but not repetitive.
        var rows = megabytes * 1024;
        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var writer = await connection.BeginTextImportAsync($"copy {table} from stdin"))
        {
            var random = new Random(megabytes);
            var chars = new char[1000];
            for (var i = 0; i < rows; i++)
            {
                for (var c = 0; c < chars.Length; c++)
                {
                    chars[c] = (char)('a' + random.Next(26));
                }

                var line = string.Create(CultureInfo.InvariantCulture, $"{i}\t{new string(chars)}\n");
                sentHash.AppendData(Encoding.ASCII.GetBytes(line));
                await writer.WriteAsync(line);
            }
        }

        var sent = Convert.ToHexString(sentHash.GetHashAndReset());
        var viaProxy = await CopyOutHash(connection, table);
        await using var direct = await server.OpenAsync();
        var viaDirect = await CopyOutHash(direct, table);

        Assert.Equal(sent, viaProxy);
        Assert.Equal(sent, viaDirect);
        Assert.True(proxy.Listener.Counters.BytesToServer > megabytes * 1_000_000L, "the COPY data went through the proxy");
        Assert.True(proxy.Listener.Counters.BytesToClient > megabytes * 1_000_000L, "the COPY OUT data came back through the proxy");
        await Execute(connection, $"drop table {table}");
    }

    [Fact]
    public async Task Pipelined_batch_returns_what_direct_returns()
    {
        var server = cluster.Primary;
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(server.Port));
        await using var viaProxy = await server.OpenAsync(proxy.Port);
        await using var direct = await server.OpenAsync();

        Assert.Equal(await RunBatch(direct), await RunBatch(viaProxy));
    }

    [Fact]
    public async Task Pgbench_through_the_proxy_keeps_tpcb_balances_consistent()
    {
        var server = cluster.Primary;
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(server.Port));
        await using var setup = await server.OpenAsync();
        await Execute(setup, "drop database if exists bench");
        await Execute(setup, "create database bench");
        var common = new[] { "-h", "127.0.0.1", "-p", proxy.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres" };
        var pgbench = Path.Combine(PostgresServer.BinDirectory, "pgbench");
        await ProcessRunner.RunCheckedAsync(pgbench, ["-i", "-s", "1", "-q", .. common, "bench"], TimeSpan.FromMinutes(2));
        var output = await ProcessRunner.RunCheckedAsync(pgbench, ["-n", "-c", "4", "-j", "2", "-t", "250", "-M", "extended", .. common, "bench"], TimeSpan.FromMinutes(2));
        Assert.Contains("number of transactions actually processed: 1000/1000", output, StringComparison.Ordinal);

        var builder = new NpgsqlConnectionStringBuilder(server.ConnectionString()) { Database = "bench" };
        await using var check = new NpgsqlConnection(builder.ConnectionString);
        await check.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            select (select count(*) from pgbench_history),
                   (select coalesce(sum(delta), 0) from pgbench_history),
                   (select sum(abalance) from pgbench_accounts),
                   (select sum(bbalance) from pgbench_branches),
                   (select sum(tbalance) from pgbench_tellers)
            """,
            check);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(1000L, reader.GetInt64(0));
        var delta = reader.GetInt64(1);
        Assert.Equal(delta, reader.GetInt64(2));
        Assert.Equal(delta, reader.GetInt64(3));
        Assert.Equal(delta, reader.GetInt64(4));
    }

    [Fact]
    public async Task Cancel_request_through_the_proxy_cancels_the_right_query()
    {
        var server = cluster.Primary;
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(server.Port));
        await using var bystander = await server.OpenAsync(proxy.Port);
        await using var shortQuery = new NpgsqlCommand("select 42 from pg_sleep(3)", bystander);

        // psql sends libpq's CancelRequest on a new connection to the host and port it used: the proxy.
        var psql = new System.Diagnostics.ProcessStartInfo(Path.Combine(PostgresServer.BinDirectory, "psql"))
        {
            ArgumentList = { "-X", "-h", "127.0.0.1", "-p", proxy.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-c", "select pg_sleep(60)" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
        };
        using var victim = System.Diagnostics.Process.Start(psql)!;
        try
        {
            var victimError = victim.StandardError.ReadToEndAsync();
            var other = shortQuery.ExecuteScalarAsync();
            await WaitUntil(async () => await CountSleepers(server) == 2);

            await ProcessRunner.RunCheckedAsync("kill", ["-INT", victim.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));

            await victim.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Contains("canceling statement due to user request", await victimError, StringComparison.Ordinal);
            Assert.Equal(42, await other.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            if (!victim.HasExited)
            {
                victim.Kill();
            }
        }
    }

    private static async Task<int> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (int)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Tls_passes_through_untouched()
    {
        var server = cluster.Primary;
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(server.Port));
        await using var connection = await server.OpenAsync(proxy.Port, sslMode: "Require");
        await using var command = new NpgsqlCommand("select ssl, version from pg_stat_ssl where pid = pg_backend_pid()", connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.True(reader.GetBoolean(0));
        Assert.StartsWith("TLS", reader.GetString(1), StringComparison.Ordinal);
    }

    private static async Task<long> CountSleepers(PostgresServer server)
    {
        await using var connection = await server.OpenAsync();
        await using var command = new NpgsqlCommand("select count(*) from pg_stat_activity where query like '%pg_sleep(%' and state = 'active' and pid <> pg_backend_pid()", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task WaitUntil(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("The condition did not become true within 10 s.");
    }

    private static async Task<string> CopyOutHash(NpgsqlConnection connection, string table)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var reader = await connection.BeginTextExportAsync($"copy (select * from {table} order by id) to stdout");
        var buffer = new char[64 * 1024];
        int read;
        while ((read = await reader.ReadAsync(buffer.AsMemory())) > 0)
        {
            hash.AppendData(Encoding.ASCII.GetBytes(buffer, 0, read));
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }

    private static async Task<string> RunBatch(NpgsqlConnection connection)
    {
        await using var batch = new NpgsqlBatch(connection);
        for (var i = 0; i < 400; i++)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("select $1::int * 7, repeat(md5($1::text), $1 % 50), now() = now()") { Parameters = { new NpgsqlParameter { Value = i } } });
        }

        var result = new StringBuilder();
        await using var reader = await batch.ExecuteReaderAsync();
        do
        {
            while (await reader.ReadAsync())
            {
                result.Append(reader.GetInt32(0)).Append('|').Append(reader.GetString(1)).Append('|').Append(reader.GetBoolean(2)).Append('\n');
            }
        }
        while (await reader.NextResultAsync());

        return result.ToString();
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

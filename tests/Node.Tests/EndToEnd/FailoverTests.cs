using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Npgsql;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using Xunit.Abstractions;

namespace PgRaft.Node.Tests.EndToEnd;

/// <summary>Real pgraft processes, real PostgreSQL, clients through the proxy ports (DESIGN §6–§9).</summary>
[Collection(ClusterCollection.Name)]
public sealed class FailoverTests(ClusterFixture cluster, ITestOutputHelper output)
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Every_nodes_proxy_port_reaches_the_primary_and_the_read_only_port_a_standby()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);

        for (var n = 1; n <= ClusterFixture.Nodes; n++)
        {
            Assert.Equal(ClusterFixture.PostgresPort(primary), await cluster.ScalarAsync<int>(ClusterFixture.ReadWritePort(n), "select inet_server_port()"));
            Assert.False(await cluster.ScalarAsync<bool>(ClusterFixture.ReadWritePort(n), "select pg_is_in_recovery()"));
            Assert.True(await cluster.ScalarAsync<bool>(ClusterFixture.ReadOnlyPort(n), "select pg_is_in_recovery()"));
        }

        // initdb ran with 1 MB WAL segments (a promotion copies the last one onto the new timeline).
        Assert.Equal("1MB", await cluster.ScalarAsync<string>(ClusterFixture.ReadWritePort(primary), "show wal_segment_size"));
    }

    [Fact]
    public async Task Pgraft_list_and_history_show_the_cluster_from_any_node()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var config = Path.Combine(cluster.NodeDirectory(primary % ClusterFixture.Nodes + 1), "pgraft.json");
        var (listExit, list, listError) = Configuration.CheckConfigCommandTests.RunPgraft("list", "--config", config);
        Assert.True(listExit == 0, listError);
        output.WriteLine(list);
        Assert.Matches($@"(?m)^node{primary}\s+127\.0\.0\.1:{ClusterFixture.PostgresPort(primary)}\s+primary\s+running", list);
        Assert.Equal(ClusterFixture.Nodes - 1, list.Split('\n').Count(l => l.Contains("standby", StringComparison.Ordinal) && l.Contains("running", StringComparison.Ordinal)));
        Assert.DoesNotContain(cluster.Password, list, StringComparison.Ordinal);

        var (historyExit, history, historyError) = Configuration.CheckConfigCommandTests.RunPgraft("history", "--config", config);
        Assert.True(historyExit == 0, historyError);
        Assert.Contains("bootstrap", history, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pgraft_pause_holds_failover_through_a_crash_of_the_primary_until_pgraft_resume()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var survivors = Enumerable.Range(1, ClusterFixture.Nodes).Where(n => n != primary).ToList();
        var config = Path.Combine(cluster.NodeDirectory(survivors[0]), "pgraft.json");
        var killed = false;
        try
        {
            var (pauseExit, paused, pauseError) = Configuration.CheckConfigCommandTests.RunPgraft("pause", "--config", config);
            Assert.True(pauseExit == 0, pauseError);
            Assert.Contains("paused: no automatic failover", paused, StringComparison.Ordinal);
            var (againExit, again, _) = Configuration.CheckConfigCommandTests.RunPgraft("pause", "--config", config);
            Assert.Equal(0, againExit);
            Assert.Contains("already paused", again, StringComparison.Ordinal);

            cluster.Kill(primary);
            killed = true;

            // failTimeout is 1 s: unpaused, a standby would be promoted well within this.
            await Task.Delay(TimeSpan.FromSeconds(5));
            using (var http = new HttpClient())
            using (var document = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(survivors[0])}/cluster"))))
            {
                Assert.Equal($"node{primary}", document.RootElement.GetProperty("view").GetProperty("primary").GetString());
                Assert.True(document.RootElement.GetProperty("spec").GetProperty("paused").GetBoolean());
            }

            foreach (var n in survivors)
            {
                Assert.True(await cluster.ScalarAsync<bool>(ClusterFixture.PostgresPort(n), "select pg_is_in_recovery()"), $"node{n} was promoted while paused");
            }

            var (listExit, list, listError) = Configuration.CheckConfigCommandTests.RunPgraft("list", "--config", config);
            Assert.True(listExit == 0, listError);
            Assert.Contains("PAUSED", list, StringComparison.Ordinal);

            var resumedAt = Stopwatch.GetTimestamp();
            var (resumeExit, resumed, resumeError) = Configuration.CheckConfigCommandTests.RunPgraft("resume", "--config", config);
            Assert.True(resumeExit == 0, resumeError);
            Assert.Contains("resumed", resumed, StringComparison.Ordinal);
            var newPrimary = await cluster.WaitUntilHealthyAsync(Recovery, survivors);
            output.WriteLine($"paused: node{primary} killed, no promotion in 5 s; resumed: node{newPrimary} healthy primary {Stopwatch.GetElapsedTime(resumedAt).TotalSeconds:F1} s later");
        }
        finally
        {
            // Whatever failed above, the next test needs an unpaused cluster of three.
            Configuration.CheckConfigCommandTests.RunPgraft("resume", "--config", config);
            if (killed)
            {
                cluster.Start(primary);
            }
        }

        await cluster.WaitUntilHealthyAsync(Recovery);
    }

    [Fact]
    public async Task Bootstrap_creates_the_configured_role_database_and_runs_the_script_once()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var app = new NpgsqlConnectionStringBuilder(cluster.ConnectionString(ClusterFixture.ReadWritePort(primary))) { Username = "app", Password = cluster.AppPassword, Database = "appdb" }.ConnectionString;

        await WaitUntilAsync(
            async () =>
            {
                try
                {
                    await using var connection = new NpgsqlConnection(app);
                    await connection.OpenAsync();
                    return true;
                }
                catch (NpgsqlException)
                {
                    return false;
                }
            },
            Recovery);
        Assert.Equal(1L, await cluster.ScalarAsync<long>(ClusterFixture.ReadWritePort(primary), "select count(*) from bootstrap_marker"));
    }

    [Fact]
    public async Task Killing_the_primary_node_promotes_a_standby_loses_no_acknowledged_row_and_the_old_node_rejoins()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var survivors = Enumerable.Range(1, ClusterFixture.Nodes).Where(n => n != primary).ToList();
        var entry = ClusterFixture.ReadWritePort(survivors[0]);
        await ExecuteAsync(entry, "create table if not exists kill_test (id int primary key)");

        using var writing = new CancellationTokenSource();
        var writer = WriteRowsAsync(entry, "kill_test", writing.Token);
        await Task.Delay(1500);
        var killedAt = Stopwatch.GetTimestamp();
        cluster.Kill(primary);
        int newPrimary;
        HashSet<int> acknowledged;
        try
        {
            newPrimary = await cluster.WaitUntilHealthyAsync(Recovery, survivors);
            output.WriteLine($"node{primary} killed; node{newPrimary} healthy primary after {Stopwatch.GetElapsedTime(killedAt).TotalSeconds:F1} s");
            await Task.Delay(1500);
            await writing.CancelAsync();
            (acknowledged, var outage) = await writer;
            output.WriteLine($"{acknowledged.Count} rows acknowledged; longest write outage {outage.TotalSeconds:F2} s");
        }
        finally
        {
            // Whatever failed above, the next test needs all three nodes.
            cluster.Start(primary);
        }

        Assert.Contains(newPrimary, survivors);
        var present = await IdsAsync(ClusterFixture.PostgresPort(newPrimary), "kill_test");
        Assert.Empty(acknowledged.Except(present));
        Assert.True(acknowledged.Count > 10, $"only {acknowledged.Count} rows were acknowledged");

        Assert.Equal(newPrimary, await cluster.WaitUntilHealthyAsync(Recovery));
        await WaitUntilAsync(async () => (await TryIdsAsync(ClusterFixture.PostgresPort(primary), "kill_test"))?.IsSupersetOf(acknowledged) == true, Recovery);
    }

    [Fact]
    public async Task A_paused_primary_stops_taking_writes_before_another_node_is_promoted()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var others = Enumerable.Range(1, ClusterFixture.Nodes).Where(n => n != primary).ToList();
        await ExecuteAsync(ClusterFixture.ReadWritePort(primary), "create table if not exists pause_test (id int primary key, node int)");
        var pgraft = cluster.ProcessOf(primary);

        using var writing = new CancellationTokenSource();
        var oldPrimaryWrites = LastWriteAsync(ClusterFixture.PostgresPort(primary), primary, writing.Token);
        var newPrimaryWrites = others.Select(n => FirstWriteAsync(ClusterFixture.PostgresPort(n), n, writing.Token)).ToList();
        await Task.Delay(500);
        Signal(pgraft.Id, "STOP");
        try
        {
            var first = await Task.WhenAny(newPrimaryWrites).WaitAsync(Recovery);
            var firstNewWrite = await first;
            await Task.Delay(1000);
            await writing.CancelAsync();
            var lastOldWrite = await oldPrimaryWrites;
            output.WriteLine($"last write on the paused node{primary}: {lastOldWrite}; first write on the new primary: {firstNewWrite}");
            Assert.True(lastOldWrite < firstNewWrite, $"the old primary took a write at {lastOldWrite}, after the new one's first at {firstNewWrite}");
        }
        finally
        {
            Signal(pgraft.Id, "CONT");
        }

        var newPrimary = await cluster.WaitUntilHealthyAsync(Recovery);
        Assert.NotEqual(primary, newPrimary);
    }

    [Fact]
    public async Task A_switchover_moves_the_primary_without_losing_an_acknowledged_row()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var target = Enumerable.Range(1, ClusterFixture.Nodes).First(n => n != primary);
        var entry = ClusterFixture.ReadWritePort(Enumerable.Range(1, ClusterFixture.Nodes).First(n => n != primary && n != target));
        await ExecuteAsync(entry, "create table if not exists switchover_test (id int primary key)");

        using var writing = new CancellationTokenSource();
        var writer = WriteRowsAsync(entry, "switchover_test", writing.Token);
        await Task.Delay(1000);
        // The generation also moves with sync-set changes, so a request can race one: retry with the fresh generation.
        CommandResult? result = null;
        for (var attempt = 0; attempt < 10 && result?.Outcome != CommandOutcome.Applied; attempt++)
        {
            result = await ProposeAsync(new RequestSwitchover(await GenerationAsync(target), $"node{target}", DateTimeOffset.UtcNow));
            output.WriteLine($"switchover request: {result}");
        }

        Assert.Equal(CommandOutcome.Applied, result!.Outcome);
        await WaitUntilAsync(() => ClusterFixture.EndpointOkAsync(target, "primary"), Recovery);
        await Task.Delay(1500);
        await writing.CancelAsync();
        var (acknowledged, outage) = await writer;
        output.WriteLine($"switchover node{primary} → node{target}: longest write outage {outage.TotalSeconds:F2} s, {acknowledged.Count} rows");

        Assert.Empty(acknowledged.Except(await IdsAsync(ClusterFixture.PostgresPort(target), "switchover_test")));
        Assert.Equal(target, await cluster.WaitUntilHealthyAsync(Recovery));
    }

    private async Task<CommandResult> ProposeAsync(ClusterCommand command)
    {
        var signer = new RequestSigner(File.ReadAllText(Path.Combine(cluster.Root, "cluster.secret")).Trim(), TimeProvider.System);
        var body = JsonSerializer.SerializeToUtf8Bytes(command, ApiJsonContext.Default.ClusterCommand);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var attempt = 0; attempt < 20; attempt++)
        {
            for (var n = 1; n <= ClusterFixture.Nodes; n++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(n)}/internal/v1/propose")) { Content = new ByteArrayContent(body) };
                request.Headers.Add(RequestSigner.HeaderName, signer.Sign("POST", "/internal/v1/propose", body));
                using var response = await http.SendAsync(request);
                if (response.IsSuccessStatusCode)
                {
                    var answer = JsonSerializer.Deserialize(await response.Content.ReadAsByteArrayAsync(), ApiJsonContext.Default.ProposeResponse)!;
                    return new CommandResult(answer.Outcome, answer.Message);
                }
            }

            await Task.Delay(500);
        }

        throw new TimeoutException("no node accepted the proposal as leader");
    }

    private static async Task<long> GenerationAsync(int node)
    {
        using var http = new HttpClient();
        using var document = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(node)}/cluster")));
        return document.RootElement.GetProperty("view").GetProperty("generation").GetInt64();
    }

    /// <summary>Inserts rows one by one through <paramref name="port"/>, reconnecting after errors; returns the acknowledged ids and the longest gap between acknowledgements.</summary>
    private async Task<(HashSet<int> Acknowledged, TimeSpan LongestOutage)> WriteRowsAsync(int port, string table, CancellationToken cancellationToken)
    {
        var acknowledged = new HashSet<int>();
        var lastSuccess = Stopwatch.GetTimestamp();
        var longest = TimeSpan.Zero;
        var id = 0;
        var deadline = Stopwatch.StartNew();
        while (!cancellationToken.IsCancellationRequested && deadline.Elapsed < TimeSpan.FromMinutes(4))
        {
            try
            {
                // The stop token is checked between inserts only: Npgsql's cancellation callbacks can throw once a
                // connection is disposed, which would fail the test at CancelAsync rather than the writer.
                await using var connection = new NpgsqlConnection(cluster.ConnectionString(port, 3));
                await connection.OpenAsync(CancellationToken.None);
                while (!cancellationToken.IsCancellationRequested)
                {
                    var next = ++id;
                    await using var insert = new NpgsqlCommand($"insert into {table} (id) values ({next})", connection);
                    await insert.ExecuteNonQueryAsync(CancellationToken.None);
                    acknowledged.Add(next);
                    var gap = Stopwatch.GetElapsedTime(lastSuccess);
                    longest = gap > longest ? gap : longest;
                    lastSuccess = Stopwatch.GetTimestamp();
                    await Task.Delay(20, CancellationToken.None);
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
            {
                await Task.Delay(50, CancellationToken.None);
            }
        }

        return (acknowledged, longest);
    }

    private async Task<long> LastWriteAsync(int port, int node, CancellationToken cancellationToken)
    {
        long last = 0;
        var deadline = Stopwatch.StartNew();
        while (!cancellationToken.IsCancellationRequested && deadline.Elapsed < TimeSpan.FromMinutes(3))
        {
            if (await TryWriteAsync(port, node))
            {
                last = Stopwatch.GetTimestamp();
            }

            await Task.Delay(10, CancellationToken.None);
        }

        return last;
    }

    private async Task<long> FirstWriteAsync(int port, int node, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (!cancellationToken.IsCancellationRequested && deadline.Elapsed < TimeSpan.FromMinutes(3))
        {
            if (await TryWriteAsync(port, node))
            {
                return Stopwatch.GetTimestamp();
            }

            await Task.Delay(10, CancellationToken.None);
        }

        return long.MaxValue;
    }

    private async Task<bool> TryWriteAsync(int port, int node)
    {
        try
        {
            await using var connection = new NpgsqlConnection(cluster.ConnectionString(port, 1));
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand($"insert into pause_test (id, node) values ((random() * 2000000000)::int, {node}) on conflict do nothing", connection) { CommandTimeout = 1 };
            await insert.ExecuteNonQueryAsync();
            return true;
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
        {
            return false;
        }
    }

    private async Task ExecuteAsync(int port, string sql)
    {
        await WaitUntilAsync(
            async () =>
            {
                try
                {
                    await using var connection = new NpgsqlConnection(cluster.ConnectionString(port));
                    await connection.OpenAsync();
                    await using var command = new NpgsqlCommand(sql, connection);
                    await command.ExecuteNonQueryAsync();
                    return true;
                }
                catch (NpgsqlException)
                {
                    return false;
                }
            },
            Recovery);
    }

    private async Task<HashSet<int>?> TryIdsAsync(int port, string table)
    {
        try
        {
            return await IdsAsync(port, table);
        }
        catch (NpgsqlException)
        {
            return null;
        }
    }

    private async Task<HashSet<int>> IdsAsync(int port, string table)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString(port));
        await connection.OpenAsync();
        await using var select = new NpgsqlCommand($"select id from {table}", connection);
        await using var reader = await select.ExecuteReaderAsync();
        var ids = new HashSet<int>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetInt32(0));
        }

        return ids;
    }

    private Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout) => cluster.WaitUntilAsync(condition, timeout);

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }
}

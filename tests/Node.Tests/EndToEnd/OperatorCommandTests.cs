using System.Diagnostics;
using System.Text.Json;
using Npgsql;
using Xunit.Abstractions;

namespace PgRaft.Node.Tests.EndToEnd;

/// <summary>
/// The operator commands a Patroni user reaches for (edit-config, show-config, restart, reinit, failover), run as the
/// real <c>pgraft</c> program against the real cluster.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class OperatorCommandTests(ClusterFixture cluster, ITestOutputHelper output)
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(120);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(2) };

    private (int ExitCode, string Output, string Error) Pgraft(int node, params string[] args)
    {
        var result = Configuration.CheckConfigCommandTests.RunPgraft([.. args, "--config", Path.Combine(cluster.NodeDirectory(node), "pgraft.json")]);
        output.WriteLine($"$ pgraft {string.Join(' ', args)} (on node{node}) -> {result.ExitCode}\n{result.Output}{result.Error}");
        Assert.DoesNotContain(cluster.Password, result.Output + result.Error, StringComparison.Ordinal);
        return result;
    }

    [Fact]
    public async Task Edit_config_changes_a_parameter_on_every_server_refuses_bad_values_and_show_config_prints_it()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var other = primary % ClusterFixture.Nodes + 1;
        try
        {
            var (exit, text, error) = Pgraft(other, "edit-config", "--pg", "work_mem=12MB", "--set", "maxReplicaLag=32MB", "--force");
            Assert.True(exit == 0, error);
            Assert.Contains("postgresParameters.work_mem: (not set) -> 12MB", text, StringComparison.Ordinal);
            Assert.Contains("maxReplicaLag: 16MB -> 32MB", text, StringComparison.Ordinal);

            var shown = Pgraft(primary, "show-config");
            Assert.Equal(0, shown.ExitCode);
            using (var document = JsonDocument.Parse(shown.Output))
            {
                Assert.Equal("12MB", document.RootElement.GetProperty("postgresParameters").GetProperty("work_mem").GetString());
                Assert.Equal("32MB", document.RootElement.GetProperty("maxReplicaLag").GetString());
            }

            // Every keeper writes the parameter and reloads its server.
            await WaitUntilAsync(async () =>
            {
                for (var n = 1; n <= ClusterFixture.Nodes; n++)
                {
                    if (await cluster.ScalarAsync<string>(ClusterFixture.PostgresPort(n), "show work_mem") != "12MB")
                    {
                        return false;
                    }
                }

                return true;
            }, TimeSpan.FromSeconds(30));

            var bad = Pgraft(other, "edit-config", "--set", "failTimeout=fast", "--set", "colour=blue", "--force");
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains("failTimeout 'fast' is not a duration", bad.Error, StringComparison.Ordinal);
            Assert.Contains("'colour' is not a setting", bad.Error, StringComparison.Ordinal);

            var unsafeLease = Pgraft(other, "edit-config", "--set", "leaseTimeout=500ms", "--force");
            Assert.Equal(1, unsafeLease.ExitCode);
            Assert.Contains("can only be raised on a running cluster", unsafeLease.Error, StringComparison.Ordinal);

            var unconfirmed = Pgraft(other, "edit-config", "--pg", "work_mem=13MB");
            Assert.Equal(1, unconfirmed.ExitCode);
            Assert.Contains("add --force", unconfirmed.Error, StringComparison.Ordinal);

            Assert.Contains("no changes", Pgraft(other, "edit-config", "--pg", "work_mem=12MB", "--force").Output, StringComparison.Ordinal);
        }
        finally
        {
            Pgraft(other, "edit-config", "--remove-pg", "work_mem", "--set", "maxReplicaLag=16MB", "--force");
        }
    }

    [Fact]
    public async Task Permanent_slots_are_made_on_every_server_ignored_slots_are_kept_and_other_unknown_ones_dropped_on_the_primary()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var standbys = Enumerable.Range(1, ClusterFixture.Nodes).Where(n => n != primary).ToList();
        async Task<string?> RestartLsnAsync(int node, string slot) =>
            await cluster.ScalarAsync<object>(ClusterFixture.PostgresPort(node), $"select coalesce((select coalesce(restart_lsn::text, 'none') from pg_replication_slots where slot_name = '{slot}'), 'missing')") as string;

        try
        {
            var (exit, text, error) = Pgraft(standbys[0], "edit-config", "--set", "permanentSlots=e2e_archiver", "--set", "ignoreSlots=e2e_keep_*", "--force");
            Assert.True(exit == 0, error);
            Assert.Contains("permanentSlots: + e2e_archiver", text, StringComparison.Ordinal);
            Assert.Contains("ignoreSlots: + e2e_keep_*", text, StringComparison.Ordinal);

            // The primary's reserves WAL for its consumer; the standbys' hold nothing until they are promoted.
            await WaitUntilAsync(async () =>
                await RestartLsnAsync(primary, "e2e_archiver") is not ("missing" or "none")
                && (await Task.WhenAll(standbys.Select(n => RestartLsnAsync(n, "e2e_archiver")))).All(lsn => lsn == "none"),
                TimeSpan.FromSeconds(30));

            // An operator's own slots: an ignored one stays, an unknown inactive one goes (it would hold WAL for nobody).
            await ExecuteAsync(ClusterFixture.PostgresPort(primary), "select pg_create_physical_replication_slot('e2e_keep_tool', true)");
            await ExecuteAsync(ClusterFixture.PostgresPort(primary), "select pg_create_physical_replication_slot('e2e_stray', true)");
            await WaitUntilAsync(async () => await RestartLsnAsync(primary, "e2e_stray") == "missing", TimeSpan.FromSeconds(30));
            Assert.NotEqual("missing", await RestartLsnAsync(primary, "e2e_keep_tool"));
            Assert.NotEqual("missing", await RestartLsnAsync(primary, "e2e_archiver"));

            var bad = Pgraft(standbys[0], "edit-config", "--set", "permanentSlots=e2e-archiver", "--force");
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains("permanent slot 'e2e-archiver' is not a slot name", bad.Error, StringComparison.Ordinal);
            var both = Pgraft(standbys[0], "edit-config", "--set", "permanentSlots=e2e_keep_x", "--force");
            Assert.Equal(2, both.ExitCode);
            Assert.Contains("both permanent and ignored", both.Error, StringComparison.Ordinal);

            // Checked by the leader against the members: a member's own slot name is refused there.
            var member = Pgraft(standbys[0], "edit-config", "--set", $"permanentSlots=node{primary}", "--force");
            Assert.Equal(1, member.ExitCode);
            Assert.Contains($"is member node{primary}'s own slot", member.Error, StringComparison.Ordinal);
            Assert.Equal("e2e_archiver", JsonDocument.Parse(Pgraft(primary, "show-config").Output).RootElement.GetProperty("permanentSlots")[0].GetString());
        }
        finally
        {
            Pgraft(standbys[0], "edit-config", "--set", "permanentSlots=", "--set", "ignoreSlots=", "--force");
            await ExecuteAsync(ClusterFixture.PostgresPort(primary), "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name like 'e2e_%' and not active");
            foreach (var standby in standbys)
            {
                await ExecuteAsync(ClusterFixture.PostgresPort(standby), "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name like 'e2e_%' and not active");
            }
        }
    }

    [Fact]
    public async Task Restart_restarts_a_standby_and_then_the_primary_in_place_without_a_failover()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var standby = primary % ClusterFixture.Nodes + 1;
        var changesOfPrimary = await ChangesOfPrimaryAsync(primary);
        var startedBefore = new Dictionary<int, DateTime>
        {
            [primary] = await PostmasterStartAsync(primary),
            [standby] = await PostmasterStartAsync(standby),
        };

        var clock = Stopwatch.StartNew();
        var (exit, text, error) = Pgraft(standby, "restart", $"node{primary}", $"node{standby}");

        Assert.True(exit == 0, error + cluster.LogTails());
        Assert.Contains($"restart of node{standby} done", text, StringComparison.Ordinal);
        Assert.Contains($"restart of node{primary} done", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf($"restart of node{standby} done", StringComparison.Ordinal) < text.IndexOf($"restart of node{primary} done", StringComparison.Ordinal), "the primary must be restarted last");
        Assert.Contains($"node{primary} is the primary", text, StringComparison.Ordinal);
        output.WriteLine($"rolling restart of two members: {clock.Elapsed.TotalSeconds:F1} s");

        Assert.Equal(primary, await cluster.WaitUntilHealthyAsync(Recovery));
        Assert.Equal(changesOfPrimary, await ChangesOfPrimaryAsync(primary));
        Assert.True(await PostmasterStartAsync(primary) > startedBefore[primary], "the primary's postmaster was not restarted");
        Assert.True(await PostmasterStartAsync(standby) > startedBefore[standby], "the standby's postmaster was not restarted");

        var usage = Pgraft(standby, "restart");
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("--all", usage.Error, StringComparison.Ordinal);
        Assert.Equal(2, Pgraft(standby, "restart", "node9").ExitCode);
    }

    [Fact]
    public async Task Reinit_reclones_a_standby_keeps_its_old_directory_and_refuses_the_primary()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var standby = primary % ClusterFixture.Nodes + 1;
        await ExecuteAsync(ClusterFixture.ReadWritePort(standby), "create table if not exists reinit_test (id int primary key); insert into reinit_test select g from generate_series(1, 1000) g on conflict do nothing");
        var asideBefore = Aside(standby);

        var refused = Pgraft(standby, "reinit", $"node{primary}");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("is the primary", refused.Error, StringComparison.Ordinal);

        var (exit, text, error) = Pgraft(standby, "reinit", $"node{standby}", "--wait", "180");
        Assert.True(exit == 0, error + cluster.LogTails());
        Assert.Contains($"reinit of node{standby} done: re-cloned", text, StringComparison.Ordinal);
        Assert.Contains("the old data directory is kept at", text, StringComparison.Ordinal);
        Assert.Equal(asideBefore + 1, Aside(standby));

        Assert.Equal(primary, await cluster.WaitUntilHealthyAsync(Recovery));
        await WaitUntilAsync(async () => await cluster.ScalarAsync<long>(ClusterFixture.PostgresPort(standby), "select count(*) from reinit_test") == 1000, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Failover_refuses_a_healthy_primary_without_force_and_promotes_the_named_standby_with_it()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var target = primary % ClusterFixture.Nodes + 1;
        await ExecuteAsync(ClusterFixture.ReadWritePort(target), "create table if not exists failover_cli (id int primary key); insert into failover_cli values (1) on conflict do nothing");

        var refused = Pgraft(target, "failover", "--to", $"node{target}");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("healthy primary", refused.Error, StringComparison.Ordinal);
        Assert.Contains("--force", refused.Error, StringComparison.Ordinal);
        Assert.Equal(2, Pgraft(target, "failover", "--to", "node9").ExitCode);

        var (exit, text, error) = Pgraft(target, "failover", "--to", $"node{target}", "--force");
        Assert.True(exit == 0, error + cluster.LogTails());
        Assert.Contains($"node{target} is primary", text, StringComparison.Ordinal);

        Assert.Equal(target, await cluster.WaitUntilHealthyAsync(Recovery));
        Assert.Equal(1L, await cluster.ScalarAsync<long>(ClusterFixture.ReadWritePort(primary), "select count(*) from failover_cli where id = 1"));
        var history = Pgraft(primary, "history");
        Assert.Contains($"manual failover node{primary} -> node{target}", history.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failover_of_a_dead_primary_works_while_paused()
    {
        var primary = await cluster.WaitUntilHealthyAsync(Recovery);
        var survivor = primary % ClusterFixture.Nodes + 1;
        var killed = false;
        try
        {
            Assert.Equal(0, Pgraft(survivor, "pause").ExitCode);
            cluster.Kill(primary);
            killed = true;

            // What an operator sees first: the leader no longer counts the primary as running (after failTimeout).
            await WaitUntilAsync(async () => !(await Http.GetStringAsync(new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(survivor)}/cluster/nodes")))
                .Contains($"\"nodeId\":\"node{primary}\",\"running\":true", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
            var (exit, text, error) = Pgraft(survivor, "failover");
            Assert.True(exit == 0, error + cluster.LogTails());
            Assert.Contains("is primary", text, StringComparison.Ordinal);
            var list = Pgraft(survivor, "list");
            Assert.Contains("PAUSED", list.Output, StringComparison.Ordinal);
            Assert.Contains("sentinel (", list.Output, StringComparison.Ordinal);
        }
        finally
        {
            Pgraft(survivor, "resume");
            if (killed)
            {
                cluster.Start(primary);
            }
        }

        var now = await cluster.WaitUntilHealthyAsync(Recovery);
        Assert.NotEqual(primary, now);
    }

    private int Aside(int node) =>
        Directory.GetDirectories(Path.Combine(cluster.NodeDirectory(node), "data")).Count(d => Path.GetFileName(d).StartsWith("postgres.old-", StringComparison.Ordinal));

    private Task<DateTime> PostmasterStartAsync(int node) => cluster.ScalarAsync<DateTime>(ClusterFixture.PostgresPort(node), "select pg_postmaster_start_time()");

    private static async Task<int> ChangesOfPrimaryAsync(int node)
    {
        using var document = JsonDocument.Parse(await Http.GetStringAsync(new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(node)}/cluster")));
        return document.RootElement.GetProperty("history").GetArrayLength();
    }

    private async Task ExecuteAsync(int port, string sql)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString(port));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout) => cluster.WaitUntilAsync(condition, timeout);
}

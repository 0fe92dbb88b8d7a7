using System.Text.Json;
using Xunit.Abstractions;

namespace PgRaft.Node.Tests.EndToEnd;

/// <summary>Growing the running cluster by a fourth node and shrinking it back (<c>pgraft member add|remove</c>).</summary>
[Collection(ClusterCollection.Name)]
public sealed class MembershipTests(ClusterFixture cluster, ITestOutputHelper output)
{
    private const int NewNode = 4;
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(2) };

    private (int ExitCode, string Output, string Error) Pgraft(int node, params string[] args)
    {
        var result = Configuration.CheckConfigCommandTests.RunPgraft([.. args, "--config", Path.Combine(cluster.NodeDirectory(node), "pgraft.json")]);
        output.WriteLine($"$ pgraft {string.Join(' ', args)} (on node{node}) -> {result.ExitCode}\n{result.Output}{result.Error}");
        return result;
    }

    [Fact]
    public async Task A_fourth_node_joins_as_a_streaming_standby_and_is_removed_again()
    {
        var primary = await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(120));
        var member = primary % ClusterFixture.Nodes + 1;
        cluster.WriteConfig(NewNode, join: true);
        cluster.Start(NewNode);
        try
        {
            // Until it is added, the new node says what to run.
            await WaitUntilAsync(() => Task.FromResult(Log().Contains("on a member run `pgraft member add node4 --raft 127.0.0.1:28014`", StringComparison.Ordinal)), TimeSpan.FromSeconds(30));

            Assert.Equal(2, Pgraft(member, "member", "add", "node5", "--raft", "nowhere").ExitCode);
            var (exit, text, error) = Pgraft(member, "member", "add", "node4", "--raft", $"127.0.0.1:{ClusterFixture.RaftPort(NewNode)}");
            Assert.True(exit == 0, error + cluster.LogTails());
            Assert.Contains("node4 is a", text, StringComparison.Ordinal);

            // It catches up with the log, registers, is cloned and streams like any standby.
            await WaitUntilAsync(() => ClusterFixture.EndpointOkAsync(NewNode, "replica"), TimeSpan.FromSeconds(120));
            Assert.Equal(1L, await cluster.ScalarAsync<long>(ClusterFixture.PostgresPort(NewNode), "select count(*) from bootstrap_marker"));
            await WaitUntilAsync(async () => (await VotersAsync(primary)).Contains("node4"), TimeSpan.FromSeconds(30));
            Assert.Matches(@"(?m)^node4\s+127\.0\.0\.1:28034\s+(sync )?standby\s+running", Pgraft(member, "list").Output);

            var refused = Pgraft(member, "member", "remove", $"node{primary}");
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains("is the primary", refused.Error, StringComparison.Ordinal);

            // Decommissioning: stop it (the sentinel then drops it from the sync set), then remove it.
            cluster.Kill(NewNode);
            await WaitUntilAsync(async () => !(await SyncSetAsync(primary)).Contains("node4"), TimeSpan.FromSeconds(30));
            var removed = Pgraft(member, "member", "remove", "node4");
            Assert.True(removed.ExitCode == 0, removed.Error + cluster.LogTails());
            Assert.Contains("node4 removed", removed.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("node4", await VotersAsync(primary));
            Assert.DoesNotMatch(@"(?m)^node4\s", Pgraft(member, "list").Output);
        }
        finally
        {
            cluster.Kill(NewNode);
        }

        await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(120));
    }

    private string Log()
    {
        var path = Path.Combine(cluster.NodeDirectory(NewNode), "pgraft.log");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    private static async Task<HashSet<string>> VotersAsync(int node)
    {
        using var document = JsonDocument.Parse(await Http.GetStringAsync(new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(node)}/cluster/nodes")));
        return document.RootElement.GetProperty("raftVoters").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
    }

    private static async Task<HashSet<string>> SyncSetAsync(int node)
    {
        using var document = JsonDocument.Parse(await Http.GetStringAsync(new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(node)}/cluster")));
        return document.RootElement.GetProperty("view").GetProperty("sync").GetProperty("standbys").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
    }

    private Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout) => cluster.WaitUntilAsync(condition, timeout);
}

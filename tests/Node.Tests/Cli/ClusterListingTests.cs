using System.Collections.Immutable;
using PgRaft.Node.Api;
using PgRaft.Node.Cli;
using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;
using PgRaft.PgControl.Wal;

namespace PgRaft.Node.Tests.Cli;

public sealed class ClusterListingTests
{
    private static ClusterState State()
    {
        var members = ImmutableSortedDictionary.CreateBuilder<string, Member>(StringComparer.Ordinal);
        foreach (var id in new[] { "node1", "node2", "node3" })
        {
            members[id] = new Member(id, $"{id}:7432", $"{id}:5433", $"{id}:5432", $"{id}:8008", new MemberTags { NoFailover = id == "node3" });
        }

        var sync = new SyncConfig(ImmutableSortedSet.Create(StringComparer.Ordinal, "node2"), 1);
        return ClusterState.Empty with
        {
            Members = members.ToImmutable(),
            View = ClusterView.Empty with { Generation = 7, Primary = "node1", Sync = sync, PrimarySync = sync },
            Spec = new ClusterSpec { Paused = true },
            History = [new HistoryEntry(7, "node3", "node1", ChangeReason.Failover, 2, new Lsn(0x5000060), new DateTimeOffset(2026, 12, 2, 18, 0, 0, TimeSpan.Zero))],
        };
    }

    [Fact]
    public void The_member_list_shows_roles_states_lag_tags_and_the_paused_cluster()
    {
        var nodes = new ClusterNodes("node2", [
            new NodeHealth("node1", true, PgRole.Primary, true, 0, new Lsn(0x5000100), 0.1),
            new NodeHealth("node2", true, PgRole.Standby, true, 2048, new Lsn(0x5000000), 0.1),
            new NodeHealth("node3", false, PgRole.Standby, false, long.MaxValue, null, 3),
        ]);
        var lines = ClusterListing.Members(State(), nodes).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains("generation 7, primary node1", lines[0], StringComparison.Ordinal);
        Assert.Contains("Raft leader node2", lines[0], StringComparison.Ordinal);
        Assert.Contains("PAUSED", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^node1\s+node1:5433\s+primary\s+running\s+0/5000100$", lines[2]);
        Assert.Matches(@"^node2\s+node2:5433\s+sync standby\s+running\s+0/5000000\s+2\.0 kB$", lines[3]);
        Assert.Matches(@"^node3\s+node3:5433\s+standby\s+stopped\s+nofailover$", lines[4]);
    }

    [Fact]
    public void The_list_shows_what_waits_on_each_member_the_sentinel_and_the_last_operator_request()
    {
        var state = ClusterStateApplier.Apply(State() with { Bootstrap = new BootstrapRecord("node1", 42, true) }, new RequestNodeOperation("node2", NodeOperationKind.Restart, DateTimeOffset.UnixEpoch)).State;
        state = ClusterStateApplier.Apply(state, new RequestNodeOperation("node3", NodeOperationKind.Reinit, DateTimeOffset.UnixEpoch)).State;
        state = state.WithNotice("failover", false, "failover from node1 to node2 cancelled: no standby can take over");
        var nodes = new ClusterNodes("node2", [
            new NodeHealth("node1", true, PgRole.Primary, true, 0, new Lsn(0x5000100), 0.1, PendingRestart: "shared_buffers"),
            new NodeHealth("node2", true, PgRole.Standby, true, 0, new Lsn(0x5000100), 0.1, OperationInProgress: 1),
        ], new SentinelSummary("node2", "NoCandidate", "not failing over: node3 is nofailover"));

        var lines = ClusterListing.Members(state, nodes).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.EndsWith("restart for shared_buffers", lines[2], StringComparison.Ordinal);
        Assert.EndsWith("restart (operation 1, running)", lines[3], StringComparison.Ordinal);
        Assert.EndsWith("reinit (operation 2)", lines[4], StringComparison.Ordinal);
        Assert.Equal("sentinel (node2): NoCandidate: not failing over: node3 is nofailover", lines[5]);
        Assert.Equal("last operator request: failover from node1 to node2 cancelled: no standby can take over", lines[6]);
    }

    [Fact]
    public void A_member_the_leader_has_not_heard_from_is_unknown()
    {
        var text = ClusterListing.Members(State(), new ClusterNodes(null, []));
        Assert.Contains("Raft leader none", text, StringComparison.Ordinal);
        Assert.Equal(3, text.Split('\n').Count(l => l.Contains("unknown", StringComparison.Ordinal)));
    }

    [Fact]
    public void History_lists_every_change_of_primary()
    {
        Assert.Equal("2026-12-02 18:00:00Z  generation 7    failover        node3 -> node1 (left timeline 2 at 0/5000060)\n", ClusterListing.History(State()));
        Assert.Equal("no change of primary recorded yet\n", ClusterListing.History(ClusterState.Empty));
    }
}

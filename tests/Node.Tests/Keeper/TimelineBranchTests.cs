using System.Collections.Immutable;
using System.Text;
using System.Text.Json.Nodes;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Sentinel;

namespace PgRaft.Node.Tests.Keeper;

/// <summary>
/// Same-numbered timelines (seeds 5001483 and 5002105 of the control-plane simulation): node2 was named primary and
/// promoted from timeline 1 at 0/5000000, then was cut off before it reported; node1 was named next and promoted from
/// timeline 1 at 0/5000400. Both run a timeline 2; node2, back as a standby, must not take node1's for its own.
/// </summary>
public sealed class TimelineBranchTests
{
    private const ulong SystemId = 7_300_000_000_000_000_001;
    private static readonly TimelineBranch Node1Branch = new(2, new Lsn(0x5000400));

    private static ClusterState AfterTwoPromotions(TimelineBranch? recorded) =>
        ClusterState.Empty with
        {
            View = ClusterView.Empty with { Generation = 7, Primary = "node1" },
            History =
            [
                new HistoryEntry(1, null, "node3", ChangeReason.Bootstrap, 1, Lsn.Zero, DateTimeOffset.UnixEpoch),
                new HistoryEntry(5, "node3", "node2", ChangeReason.Failover, 1, new Lsn(0x5000000), DateTimeOffset.UnixEpoch),
                new HistoryEntry(6, "node2", "node1", ChangeReason.Failover, 1, new Lsn(0x5000400), DateTimeOffset.UnixEpoch, recorded),
            ],
            Bootstrap = new BootstrapRecord("node3", SystemId, true),
        };

    private static LocalPostgres Standby(bool running, ulong position, Lsn? fork, int timeline = 2, bool streaming = false, string? upstream = "node1") =>
        new(true, running, PgRole.Standby, SystemId, timeline, new Lsn(position), running ? upstream : null, "", "", fork, running && streaming);

    private static KeeperAction Plan(ClusterState state, LocalPostgres local, TimeSpan notStreamingFor = default) =>
        KeeperPlanner.Plan(new KeeperSituation("node2", state, local, false, notStreamingFor));

    [Fact]
    public void A_standby_on_a_same_numbered_timeline_of_its_own_is_stopped_and_rewound()
    {
        // node2's own timeline 2 forked at 0/5000000: below where node1 took over from timeline 1, and no history entry
        // says anyone took over from timeline 2, so by number and position alone it looked converged.
        var ownBranch = Standby(running: true, 0x5000300, fork: new Lsn(0x5000000));
        Assert.IsType<WaitAction>(Plan(AfterTwoPromotions(recorded: null), ownBranch));

        var state = AfterTwoPromotions(Node1Branch);
        var fence = Assert.IsType<FenceAction>(Plan(state, ownBranch));
        Assert.Contains("timeline 2 of its own, forked at 0/5000000", fence.Reason, StringComparison.Ordinal);
        var rewind = Assert.IsType<RewindAction>(Plan(state, ownBranch with { Running = false, Upstream = null }));
        Assert.Equal("node1", rewind.Source);
    }

    [Fact]
    public void A_standby_on_the_primarys_branch_or_with_its_fork_unknown_follows_as_before()
    {
        var state = AfterTwoPromotions(Node1Branch);
        Assert.IsType<WaitAction>(Plan(state, Standby(running: true, 0x9000000, fork: Node1Branch.ForkLsn, streaming: true)));
        Assert.IsType<StartStandbyAction>(Plan(state, Standby(running: false, 0x9000000, fork: Node1Branch.ForkLsn)));
        Assert.IsType<WaitAction>(Plan(state, Standby(running: true, 0x9000000, fork: null, streaming: true)));

        // Still on timeline 1: the position rule decides (past 0/5000400, where node1 took over, it may have forked).
        Assert.IsType<WaitAction>(Plan(state, Standby(running: true, 0x5000400, fork: null, timeline: 1, streaming: true)));
        Assert.IsType<FenceAction>(Plan(state, Standby(running: true, 0x5000500, fork: null, timeline: 1)));
    }

    [Fact]
    public void A_standby_that_follows_a_healthy_primary_without_streaming_for_five_fail_timeouts_is_recloned()
    {
        var state = AfterTwoPromotions(Node1Branch);
        var limit = KeeperPlanner.StallLimit(state.Spec);
        Assert.Equal(state.Spec.FailTimeout * 5, limit);
        var stuck = Standby(running: true, 0x9000000, fork: Node1Branch.ForkLsn);
        Assert.IsType<WaitAction>(Plan(state, stuck, limit - TimeSpan.FromMilliseconds(1)));
        var clone = Assert.IsType<CloneAction>(Plan(state, stuck, limit));
        Assert.Equal("node1", clone.Upstream);
        Assert.Contains("has not streamed from it for 5.0 s", clone.Reason, StringComparison.Ordinal);

        // Streaming, or following a cascading upstream rather than the primary, is never a stall.
        Assert.IsType<WaitAction>(Plan(state, stuck with { Streaming = true }, limit));
        var cascading = state with { View = state.View with { Upstreams = ImmutableSortedDictionary<string, string>.Empty.Add("node2", "node3") } };
        Assert.IsType<WaitAction>(Plan(cascading, stuck with { Upstream = "node3" }, limit));
    }

    [Fact]
    public void The_streaming_watch_counts_only_while_the_primary_is_available_and_nothing_streams()
    {
        var state = AfterTwoPromotions(Node1Branch);
        var stuck = Standby(running: true, 0x9000000, fork: Node1Branch.ForkLsn);
        var watch = new StreamingWatch();
        static TimeSpan S(int seconds) => TimeSpan.FromSeconds(seconds);
        Assert.Equal(TimeSpan.Zero, watch.Observe("node2", state, stuck, primaryAvailable: true, S(10)));
        Assert.Equal(S(3), watch.Observe("node2", state, stuck, primaryAvailable: true, S(13)));

        // The primary restarting or cut off from this node (unavailable), the standby streaming or stopped: the count starts again.
        Assert.Equal(TimeSpan.Zero, watch.Observe("node2", state, stuck, primaryAvailable: false, S(14)));
        Assert.Equal(TimeSpan.Zero, watch.Observe("node2", state, stuck, primaryAvailable: true, S(16)));
        Assert.Equal(S(1), watch.Observe("node2", state, stuck, primaryAvailable: true, S(17)));
        Assert.Equal(TimeSpan.Zero, watch.Observe("node2", state, stuck with { Streaming = true }, primaryAvailable: true, S(18)));
        Assert.Equal(TimeSpan.Zero, watch.Observe("node2", state, stuck with { Running = false }, primaryAvailable: true, S(19)));
        Assert.Equal(TimeSpan.Zero, watch.Observe("node2", state, stuck, primaryAvailable: true, S(20)));
        Assert.Equal(S(6), watch.Observe("node2", state, stuck, primaryAvailable: true, S(26)));
        watch.Reset();
        Assert.Equal(TimeSpan.Zero, watch.Observe("node2", state, stuck, primaryAvailable: true, S(27)));

        List<NodeHealth> nodes = [new("node1", true, PgRole.Primary, true, 0, null, 0.1), new("node3", true, PgRole.Standby, true, 0, null, 0.1)];
        Assert.True(StreamingWatch.PrimaryHealthy(nodes, "node1"));
        Assert.False(StreamingWatch.PrimaryHealthy(nodes, "node3"));
        Assert.False(StreamingWatch.PrimaryHealthy([nodes[0] with { Running = false }], "node1"));
        Assert.False(StreamingWatch.PrimaryHealthy(null, "node1"));
    }

    [Fact]
    public void The_sentinel_records_the_branch_the_new_primary_reports_once_it_applied_its_view()
    {
        var scenario = new Scenario(ReplicationMode.Async);
        scenario.State = scenario.State with
        {
            History = [new HistoryEntry(3, "node2", "node1", ChangeReason.Failover, 1, new Lsn(0x5000400), Scenario.Wall)],
        };
        scenario.Primary(99.9, "0/5001000");
        Assert.IsNotType<RecordTimelineBranch>(scenario.Decide().Command); // timeline 1: nothing forked

        scenario.Reports = scenario.Reports.With(scenario.Reports.Latest("node1")! with { Timeline = 2, TimelineFork = Node1Branch.ForkLsn, AppliedGeneration = 2, ObservedAt = Scenario.S(99.95) });
        Assert.IsNotType<RecordTimelineBranch>(scenario.Decide().Command); // a report from before it applied the view naming it

        scenario.Reports = scenario.Reports.With(scenario.Reports.Latest("node1")! with { AppliedGeneration = 3, ObservedAt = Scenario.S(99.97) });
        var record = Assert.IsType<RecordTimelineBranch>(scenario.Step().Command);
        Assert.Equal(new RecordTimelineBranch(3, "node1", Node1Branch), record);
        Assert.Equal(Node1Branch, scenario.State.History[^1].Branch);
        Assert.IsNotType<RecordTimelineBranch>(scenario.Decide().Command);
    }

    [Fact]
    public void Recording_a_branch_fills_the_last_history_entry_once_and_only_for_its_primary()
    {
        var state = AfterTwoPromotions(recorded: null);
        var (recorded, result) = ClusterStateApplier.Apply(state, new RecordTimelineBranch(6, "node1", Node1Branch));
        Assert.True(result.IsApplied, result.Message);
        Assert.Equal(Node1Branch, recorded.History[^1].Branch);
        Assert.Equal(state.History.Take(2), recorded.History.Take(2));

        Assert.Equal(CommandOutcome.Ignored, ClusterStateApplier.Apply(recorded, new RecordTimelineBranch(6, "node1", Node1Branch)).Result.Outcome);
        Assert.Equal(CommandOutcome.Rejected, ClusterStateApplier.Apply(recorded, new RecordTimelineBranch(6, "node1", Node1Branch with { ForkLsn = new Lsn(0x5000000) })).Result.Outcome);
        Assert.Equal(CommandOutcome.Rejected, ClusterStateApplier.Apply(state, new RecordTimelineBranch(5, "node2", new TimelineBranch(2, new Lsn(0x5000000)))).Result.Outcome);
        Assert.Equal(CommandOutcome.Rejected, ClusterStateApplier.Apply(state, new RecordTimelineBranch(6, "node2", Node1Branch)).Result.Outcome);
        Assert.Equal(CommandOutcome.Rejected, ClusterStateApplier.Apply(ClusterState.Empty, new RecordTimelineBranch(1, "node1", Node1Branch)).Result.Outcome);
    }

    [Fact]
    public void Commands_and_history_entries_written_before_branches_existed_still_decode()
    {
        var entry = new HistoryEntry(6, "node2", "node1", ChangeReason.Failover, 1, new Lsn(0x5000400), DateTimeOffset.UnixEpoch);
        var command = new ChangeView(5, ClusterView.Empty with { Generation = 6, Primary = "node1" }, entry);
        var json = JsonNode.Parse(CommandCodec.Encode(command))!;
        json["history"]!.AsObject().Remove("branch");
        Assert.DoesNotContain("branch", json.ToJsonString(), StringComparison.OrdinalIgnoreCase);
        Assert.True(CommandCodec.TryDecode(Encoding.UTF8.GetBytes(json.ToJsonString()), out var decoded, out var error), error);
        Assert.Equal(entry, Assert.IsType<ChangeView>(decoded).History);

        var record = new RecordTimelineBranch(6, "node1", Node1Branch);
        Assert.True(CommandCodec.TryDecode(CommandCodec.Encode(record), out var roundTripped, out error), error);
        Assert.Equal(record, roundTripped);
        Assert.Contains("\"forkLsn\":\"0/5000400\"", Encoding.UTF8.GetString(CommandCodec.Encode(record)), StringComparison.Ordinal);
    }
}

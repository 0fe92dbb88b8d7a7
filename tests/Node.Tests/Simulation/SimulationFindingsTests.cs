using System.Collections.Immutable;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Sentinel;

namespace PgRaft.Node.Tests.Simulation;

/// <summary>The bugs the control-plane simulation found in src/Node, pinned as example tests of the fixed rules.</summary>
public sealed class SimulationFindingsTests
{
    private const ulong SystemId = 7_300_000_000_000_000_001;

    /// <summary>n2 took over from timeline 1 at 0/5000000 (its reported position); n1 is the primary on timeline 2 now.</summary>
    private static ClusterState AfterFailover() =>
        ClusterState.Empty with
        {
            View = ClusterView.Empty with
            {
                Generation = 5,
                Primary = "node2",
                Upstreams = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, string>("node3", "node2")]),
            },
            History =
            [
                new HistoryEntry(1, null, "node1", ChangeReason.Bootstrap, 1, Lsn.Zero, DateTimeOffset.UnixEpoch),
                new HistoryEntry(5, "node1", "node2", ChangeReason.Failover, 1, new Lsn(0x5000000), DateTimeOffset.UnixEpoch),
            ],
            Bootstrap = new BootstrapRecord("node1", SystemId, true),
        };

    private static LocalPostgres Standby(bool running, int timeline, ulong position, string? upstream = "node2") =>
        new(true, running, PgRole.Standby, SystemId, timeline, new Lsn(position), running ? upstream : null, "");

    private static KeeperAction Plan(LocalPostgres local) => KeeperPlanner.Plan(new KeeperSituation("node3", AfterFailover(), local, false));

    [Fact]
    public void A_standby_whose_WAL_went_past_the_fork_of_its_timeline_is_stopped_and_rewound()
    {
        // seed 5000031: node3 kept streaming from the old primary during a partition, past where node2 took over.
        Assert.IsType<FenceAction>(Plan(Standby(running: true, timeline: 1, 0x5000100)));
        var rewind = Assert.IsType<RewindAction>(Plan(Standby(running: false, timeline: 1, 0x5000100)));
        Assert.Equal("node2", rewind.Source);
    }

    [Fact]
    public void A_standby_at_or_before_the_fork_or_on_the_new_timeline_just_follows()
    {
        Assert.IsType<WaitAction>(Plan(Standby(running: true, timeline: 1, 0x5000000)));
        Assert.IsType<StartStandbyAction>(Plan(Standby(running: false, timeline: 1, 0x4000000)));
        Assert.IsType<WaitAction>(Plan(Standby(running: true, timeline: 2, 0x9000000)));
        Assert.IsType<FollowAction>(Plan(Standby(running: true, timeline: 2, 0x9000000, upstream: "node1")));

        // The bootstrap entry records timeline 1 at 0/0: it says nothing about forks.
        var bootstrapOnly = AfterFailover() with { History = [AfterFailover().History[0]] };
        Assert.IsType<WaitAction>(KeeperPlanner.Plan(new KeeperSituation("node3", bootstrapOnly, Standby(running: true, timeline: 1, 0x9000000), false)));
    }

    [Fact]
    public void A_failed_primary_with_a_pending_switchover_and_no_candidate_gets_the_switchover_cancelled()
    {
        // seed 5000173: the switchover was requested while node1's PostgreSQL was down after a crash; its keeper kept
        // it stopped for the switchover and the sentinel, finding no candidate, waited for ever.
        var scenario = new Scenario(ReplicationMode.Sync).Primary(95, "0/5000000", healthy: false);
        scenario.State = scenario.State with
        {
            Switchover = new PendingSwitchover("node1", null, scenario.State.View.Generation, SwitchoverPhase.Draining, null, null, Scenario.Wall),
        };

        var decision = scenario.Decide();
        var cancel = Assert.IsType<CancelSwitchover>(decision.Command);
        Assert.Contains("no standby can take over", cancel.Reason, StringComparison.Ordinal);
        var (next, result) = ClusterStateApplier.Apply(scenario.State, cancel);
        Assert.True(result.IsApplied, result.Message);
        Assert.Null(next.Switchover);

        // Without a switchover pending, the same situation is only a wait (the primary's keeper restarts it in place).
        scenario.State = next;
        Assert.Null(scenario.Decide().Command);
    }

    [Theory]
    [InlineData("0/5000100", false)]
    [InlineData("0/5000200", true)]
    public void In_sync_modes_a_candidate_must_have_reached_where_the_current_primary_took_over(string position, bool promoted)
    {
        // seed 5003365: node1 took over at 0/5000200 (it held every acknowledged commit) and failed before its sync set
        // {node3} had caught up; promoting node3 from behind that point lost acknowledged rows.
        var scenario = new Scenario(ReplicationMode.Sync).WithSync(SyncConfig.Of(1, "node3"));
        scenario.State = scenario.State with
        {
            History =
            [
                new HistoryEntry(1, null, "node2", ChangeReason.Bootstrap, 1, Lsn.Zero, Scenario.Wall),
                new HistoryEntry(3, "node2", "node1", ChangeReason.Failover, 1, Lsn.Parse("0/5000200"), Scenario.Wall),
            ],
        };
        scenario.Standby("node3", 99.9, position);

        var decision = scenario.Decide();
        if (promoted)
        {
            Assert.Equal("node3", Assert.IsType<ChangeView>(decision.Command).View.Primary);
        }
        else
        {
            Assert.Null(decision.Command);
            Assert.Equal(SentinelStatus.NoCandidate, decision.Status);
            Assert.Contains("has not reached 0/5000200", decision.Reason, StringComparison.Ordinal);
        }
    }
}

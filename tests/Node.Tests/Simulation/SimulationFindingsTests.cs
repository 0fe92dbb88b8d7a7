using System.Collections.Immutable;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Leader;
using PgRaft.Node.Lease;
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

    /// <summary>
    /// The leader and two keepers with their own monotonic clocks; reports travel only when the test delivers them, so a
    /// report can be held back as a slow network or a paused keeper would. Times are seconds of real time.
    /// </summary>
    private sealed class ReportingCluster
    {
        private readonly Dictionary<string, LeaderClockEcho> _keepers = new(StringComparer.Ordinal);
        private TimeSpan _real;

        public ReportingCluster(ClusterSpec spec)
        {
            Spec = spec;
            Clock = new MonotonicClock(new SimClock(() => _real, 1.004, TimeSpan.FromHours(2), TimeSpan.Zero));
            Duties = new LeaderDuties(Clock);
            Duties.EnsureTerm(3);
            var origin = 1;
            foreach (var id in new[] { "node1", "node2", "node3" })
            {
                _keepers[id] = new LeaderClockEcho(new MonotonicClock(new SimClock(() => _real, 0.996, TimeSpan.FromHours(origin++), TimeSpan.Zero)));
            }
        }

        public ClusterSpec Spec { get; }
        public MonotonicClock Clock { get; }
        public LeaderDuties Duties { get; }

        public void At(double seconds) => _real = TimeSpan.FromSeconds(seconds);

        /// <summary>The keeper probes now: its report, not yet sent.</summary>
        public KeeperReport Probe(string id, PgRole role, string lsn, bool healthy = true) => new()
        {
            NodeId = id,
            ObservedAfter = _keepers[id].BeforeProbe(),
            PostgresRunning = healthy,
            Healthy = healthy,
            Role = role,
            SystemIdentifier = Scenario.SystemId,
            Timeline = 1,
            FlushLsn = role == PgRole.Primary ? Lsn.Parse(lsn) : null,
            ReceiveLsn = role == PgRole.Standby ? Lsn.Parse(lsn) : null,
            ReplayLsn = role == PgRole.Standby ? Lsn.Parse(lsn) : null,
            Upstream = role == PgRole.Standby ? "node1" : null,
            AppliedGeneration = 3,
        };

        /// <summary>The report reaches the leader now, and its ack the keeper.</summary>
        public void Deliver(KeeperReport report) => _keepers[report.NodeId].Received(Duties.Accept(report, "node3", Spec));

        public void ReportNow(string id, PgRole role, string lsn) => Deliver(Probe(id, role, lsn));

        public SentinelInput Input(ClusterState state, bool stampedOnArrival = false)
        {
            var (reports, leases) = Duties.Snapshot();
            if (stampedOnArrival)
            {
                // How the leader stamped reports before the fix: at arrival.
                reports = reports.Nodes.Values.Aggregate(ReportTable.Empty, (table, r) => table.With(r.Latest with { ObservedAt = r.Latest.ReceivedAt }));
            }

            return new SentinelInput(state, reports, Clock.Now, leases, Scenario.Wall);
        }
    }

    [Fact]
    public void A_report_delayed_past_the_old_primarys_lease_is_no_final_position()
    {
        // In sync modes the sentinel compares positions the sync standbys reported after the old primary's lease ran out.
        // node2's report was probed before that, held up, and arrived after: stamped at arrival it passed for final, its
        // position (behind a commit node2 went on to acknowledge) tied with node3's, and node3 (priority 5) was promoted
        // without that commit.
        var scenario = new Scenario(ReplicationMode.Sync, ("node1", MemberTags.None), ("node2", MemberTags.None), ("node3", new MemberTags { Priority = 5 }))
            .WithSync(SyncConfig.Of(1, "node2", "node3"));
        var cluster = new ReportingCluster(scenario.State.Spec);
        cluster.At(0.1);
        foreach (var id in new[] { "node2", "node3" })
        {
            cluster.ReportNow(id, PgRole.Standby, "0/5000000");
        }

        cluster.ReportNow("node1", PgRole.Primary, "0/5000000");
        cluster.At(0.35);
        cluster.ReportNow("node1", PgRole.Primary, "0/5000000");
        cluster.ReportNow("node2", PgRole.Standby, "0/5000000");
        Assert.True(cluster.Duties.RecordGrant(3, "node1", 3));
        var leaseFree = cluster.Clock.Now + scenario.State.Spec.LeaseTimeout + scenario.State.Spec.DriftMargin;

        // node2's pgraft probes, then stalls before sending; node1 fails; node2 goes on to acknowledge 0/5000100.
        cluster.At(0.6);
        var delayed = cluster.Probe("node2", PgRole.Standby, "0/5000000");
        for (var t = 0.6; t < 3.2; t += 0.25)
        {
            cluster.At(t);
            cluster.ReportNow("node3", PgRole.Standby, "0/5000000");
        }

        cluster.At(3.25);
        cluster.Deliver(delayed);
        Assert.True(cluster.Clock.Now > leaseFree);
        Assert.True(cluster.Duties.Snapshot().Reports.Latest("node2")!.ObservedAt < leaseFree);

        var stampedOnArrival = SentinelRules.Decide(cluster.Input(scenario.State, stampedOnArrival: true));
        Assert.Equal("node3", Assert.IsType<ChangeView>(stampedOnArrival.Command).View.Primary);

        var decision = SentinelRules.Decide(cluster.Input(scenario.State));
        Assert.Null(decision.Command);
        Assert.Equal(SentinelStatus.NoCandidate, decision.Status);

        // Its next report, probed after the ack of the late one, is final: node2 is the most advanced, and promoted.
        cluster.At(3.5);
        cluster.ReportNow("node2", PgRole.Standby, "0/5000100");
        var promoted = SentinelRules.Decide(cluster.Input(scenario.State));
        Assert.Equal("node2", Assert.IsType<ChangeView>(promoted.Command).View.Primary);
    }

    [Fact]
    public void A_report_delayed_past_a_primarys_failure_does_not_keep_it_alive()
    {
        var scenario = new Scenario(ReplicationMode.Async);
        var cluster = new ReportingCluster(scenario.State.Spec);
        cluster.At(0.1);
        cluster.ReportNow("node1", PgRole.Primary, "0/5000000");
        cluster.At(0.35);
        cluster.ReportNow("node1", PgRole.Primary, "0/5000000");

        // node1 probes healthy, its pgraft stalls, PostgreSQL dies; the report arrives 1.3 s later.
        cluster.At(0.6);
        var delayed = cluster.Probe("node1", PgRole.Primary, "0/5000000");
        cluster.At(1.9);
        cluster.Deliver(delayed);

        cluster.At(2.3);
        Assert.Null(SentinelRules.PrimaryFailure(cluster.Input(scenario.State, stampedOnArrival: true), "node1"));
        var failure = SentinelRules.PrimaryFailure(cluster.Input(scenario.State), "node1");
        Assert.NotNull(failure);
        Assert.Contains("primary node1 silent for 1.", failure, StringComparison.Ordinal);
    }
}

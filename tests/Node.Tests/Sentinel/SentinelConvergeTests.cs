using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;
using static PgRaft.Node.Tests.Sentinel.Scenario;

namespace PgRaft.Node.Tests.Sentinel;

public sealed class SentinelConvergeTests
{
    [Fact]
    public void The_sync_set_grows_commit_first_and_shrinks_only_after_the_primary_applied_it()
    {
        var scenario = new Scenario(ReplicationMode.Sync)
            .Primary(99.9, "0/5000100")
            .Standby("node2", 99.9, "0/5000100")
            .Standby("node3", 99.9, "0/5000100");

        // Grow: committed at once, the bound first with quorum 0 because the primary has confirmed nothing yet.
        var grow = Assert.IsType<ChangeView>(scenario.Step().Command);
        Assert.Equal(SyncConfig.Of(1, "node2", "node3"), grow.View.PrimarySync);
        Assert.Equal(SyncConfig.Of(0, "node2", "node3"), grow.View.Sync);

        // Until the primary reports it wrote it, the sentinel waits.
        var waiting = scenario.Step();
        Assert.Null(waiting.Command);
        Assert.Equal(SentinelStatus.Converging, waiting.Status);
        Assert.Contains("waiting for node1", waiting.Reason, StringComparison.Ordinal);

        scenario.Primary(100, "0/5000100", applied: SyncConfig.Of(1, "node2", "node3"));
        var confirm = Assert.IsType<ChangeView>(scenario.Step().Command);
        Assert.Equal(SyncConfig.Of(1, "node2", "node3"), confirm.View.Sync);
        Assert.Equal(SentinelStatus.Healthy, scenario.Step().Status);

        // node3 goes quiet: the primary is told first, the committed set keeps node3 until node1 confirms.
        scenario.Now = S(101.5);
        scenario.Primary(101.4, "0/5000200").Standby("node2", 101.4, "0/5000200");
        var tellDecision = scenario.Step();
        var tell = Assert.IsType<ChangeView>(tellDecision.Command);
        Assert.Equal(SyncConfig.Of(1, "node2"), tell.View.PrimarySync);
        Assert.Equal(SyncConfig.Of(1, "node2", "node3"), tell.View.Sync);
        Assert.Contains("dropping node3", tellDecision.Reason, StringComparison.Ordinal);

        // A report of the old generation, even with the right set, is not enough.
        scenario.Reports = scenario.Reports.With(scenario.Reports.Latest("node1")! with { AppliedSync = SyncConfig.Of(1, "node2"), AppliedGeneration = tell.View.Generation - 1 });
        Assert.Null(scenario.Step().Command);

        scenario.Primary(101.45, "0/5000200", applied: SyncConfig.Of(1, "node2"));
        var narrow = Assert.IsType<ChangeView>(scenario.Step().Command);
        Assert.Equal(SyncConfig.Of(1, "node2"), narrow.View.Sync);
    }

    [Fact]
    public void Sync_mode_drops_to_async_when_no_standby_is_left()
    {
        var scenario = new Scenario(ReplicationMode.Sync)
            .WithSync(SyncConfig.Of(1, "node2"))
            .Primary(99.9, "0/5000100")
            .Standby("node2", 97, "0/5000100");

        var change = Assert.IsType<ChangeView>(scenario.Step().Command);

        Assert.Equal(SyncConfig.Async, change.View.PrimarySync);
        Assert.Equal(SyncConfig.Of(0, "node2"), change.View.Sync);
    }

    [Fact]
    public void Sync_strict_keeps_the_set_when_no_standby_is_left()
    {
        var scenario = new Scenario(ReplicationMode.SyncStrict)
            .WithSync(SyncConfig.Of(1, "node2"))
            .Primary(99.9, "0/5000100")
            .Standby("node2", 97, "0/5000100");

        var decision = scenario.Step();

        Assert.Null(decision.Command);
        Assert.Equal(SentinelStatus.Healthy, decision.Status);
    }

    [Fact]
    public void Nosync_and_nofailover_standbys_are_never_made_synchronous()
    {
        var scenario = new Scenario(ReplicationMode.Sync, ("node1", MemberTags.None), ("node2", new MemberTags { NoSync = true }), ("node3", new MemberTags { NoFailover = true }), ("node4", MemberTags.None))
            .Primary(99.9, "0/5000100")
            .Standby("node2", 99.9, "0/5000100")
            .Standby("node3", 99.9, "0/5000100")
            .Standby("node4", 99.9, "0/5000100");

        var change = Assert.IsType<ChangeView>(scenario.Step().Command);

        Assert.Equal(SyncConfig.Of(1, "node4"), change.View.PrimarySync);
    }

    [Fact]
    public void Upstreams_follow_replicate_from_and_a_loop_falls_back_to_the_primary()
    {
        var scenario = new Scenario(ReplicationMode.Async,
                ("node1", MemberTags.None),
                ("node2", new MemberTags { ReplicateFrom = "node3" }),
                ("node3", new MemberTags { ReplicateFrom = "node2" }),
                ("node4", new MemberTags { ReplicateFrom = "node5" }),
                ("node5", MemberTags.None))
            .Primary(99.9, "0/5000100");

        var change = Assert.IsType<ChangeView>(scenario.Step().Command);

        Assert.Equal("node1", change.View.Upstreams["node2"]);
        Assert.Equal("node1", change.View.Upstreams["node3"]);
        Assert.Equal("node5", change.View.Upstreams["node4"]);
        Assert.Equal("node1", change.View.Upstreams["node5"]);
        Assert.Equal(SentinelStatus.Healthy, scenario.Step().Status);
    }

    [Fact]
    public void Bootstrap_picks_one_node_then_records_its_system_identifier()
    {
        var scenario = new Scenario(ReplicationMode.Sync, ("node1", MemberTags.None), ("node2", new MemberTags { Priority = 1 }), ("node3", new MemberTags { NoFailover = true, Priority = 9 }));
        scenario.State = scenario.State with { View = ClusterView.Empty, Bootstrap = null };
        scenario.Leases = PgRaft.Node.Lease.LeaseTable.StartTerm(S(99.5));
        foreach (var id in new[] { "node1", "node2" })
        {
            scenario.Reports = scenario.Reports.With(new KeeperReport { NodeId = id, ReceivedAt = S(99.9), ObservedAt = S(99.9), Healthy = true });
        }

        var waiting = scenario.Step();
        Assert.Null(waiting.Command);
        Assert.Contains("waiting for every member to report (2 of 3", waiting.Reason, StringComparison.Ordinal);

        scenario.Reports = scenario.Reports.With(new KeeperReport { NodeId = "node3", ReceivedAt = S(99.9), ObservedAt = S(99.9), Healthy = true });
        var bootstrap = Assert.IsType<ChangeView>(scenario.Step().Command);
        Assert.Equal("node2", bootstrap.View.Primary);
        Assert.Equal(ChangeReason.Bootstrap, bootstrap.History!.Reason);
        Assert.Equal(1, bootstrap.View.Generation);

        Assert.Contains("waiting for node2 to initialise", scenario.Step().Reason, StringComparison.Ordinal);
        scenario.Primary(100, "0/1000000", id: "node2");
        var record = Assert.IsType<RecordBootstrap>(scenario.Step().Command);
        Assert.Equal(new RecordBootstrap("node2", SystemId), record);
        Assert.Equal(SystemId, scenario.State.Bootstrap!.SystemIdentifier);
    }
    [Fact]
    public void A_node_named_to_bootstrap_long_into_the_term_gets_failTimeout_from_its_naming()
    {
        // Under heavy load the first initialiser let its lease lapse 24 s into the term; the sentinel named node2
        // instead, then at once replaced node2 ("unhealthy for 24.3 s"), and node1, and node2 again: four views in
        // 100 ms and two initdb runs.
        var scenario = new Scenario(ReplicationMode.Async);
        scenario.State = scenario.State with { View = ClusterView.Empty with { Generation = 2, Primary = "node2" }, Bootstrap = null };
        scenario.Leases = LeaseTable.StartTerm(S(76)).WithNamedPrimary("node2", S(100));
        foreach (var id in new[] { "node1", "node2", "node3" })
        {
            scenario.Reports = scenario.Reports.With(new KeeperReport { NodeId = id, ReceivedAt = S(100), ObservedAt = S(100), Error = id == "node2" ? "initialising the data directory (initdb)" : null });
        }

        scenario.Now = S(100.3);
        var waiting = scenario.Step();
        Assert.Null(waiting.Command);
        Assert.Contains("waiting for node2 to initialise", waiting.Reason, StringComparison.Ordinal);

        // Not healthy failTimeout (1.5 s) after its naming, and holding no lease: replaced.
        scenario.Now = S(101.6);
        foreach (var id in new[] { "node1", "node2", "node3" })
        {
            scenario.Reports = scenario.Reports.With(new KeeperReport { NodeId = id, ReceivedAt = S(101.5), ObservedAt = S(101.5) });
        }

        var replaced = Assert.IsType<ChangeView>(scenario.Step().Command);
        Assert.NotEqual("node2", replaced.View.Primary);
    }

    [Fact]
    public void Just_after_a_promotion_a_reconnecting_sync_standby_is_kept_not_dropped_and_added_back()
    {
        // node1 was promoted 0.8 s ago; node3, in the set it writes, still streams from nobody while it reconnects.
        var promoted = new HistoryEntry(3, "node2", "node1", ChangeReason.Failover, 1, new Lsn(0x5000100), Scenario.Wall - TimeSpan.FromSeconds(0.8));
        var scenario = new Scenario(ReplicationMode.Sync)
            .WithSync(SyncConfig.Of(1, "node3"))
            .Primary(99.9, "0/5000100", applied: SyncConfig.Of(1, "node3"))
            .Standby("node3", 99.9, "0/5000100", upstream: null!);
        scenario.State = scenario.State with { History = [promoted] };
        Assert.Null(scenario.Step().Command);

        // Three failTimeouts later it is dropped as before: sync mode goes on writing without it.
        scenario.State = scenario.State with { History = [promoted with { When = Scenario.Wall - TimeSpan.FromSeconds(4.6) }] };
        var drop = Assert.IsType<ChangeView>(scenario.Step().Command);
        Assert.Equal(SyncConfig.Async, drop.View.PrimarySync);

        // And a standby the new primary did not already wait for is never added before it streams from it.
        scenario.State = scenario.State with { History = [promoted], View = scenario.State.View with { Sync = SyncConfig.Async, PrimarySync = SyncConfig.Async } };
        scenario.Primary(99.9, "0/5000100", applied: SyncConfig.Async);
        Assert.Null(scenario.Step().Command);
    }

    [Fact]
    public void A_new_leader_keeps_the_sync_standbys_it_has_not_heard_from_yet_for_failTimeout_from_its_term_start()
    {
        // This leader's term began 0.3 s ago; only the primary has reported to it so far.
        var scenario = new Scenario(ReplicationMode.Sync).WithSync(SyncConfig.Of(1, "node2", "node3"));
        scenario.Leases = LeaseTable.StartTerm(S(99.7));
        scenario.Primary(99.9, "0/5000100");
        Assert.Null(scenario.Step().Command);

        // node3's first report to this leader carries no stamp yet (it echoes the old leader's clock): kept as well.
        scenario.Standby("node3", 99.95, "0/5000100");
        var unstamped = scenario.Reports.Latest("node3")! with { ObservedAt = null };
        scenario.Reports = new ReportTable(scenario.Reports.Nodes.SetItem("node3", new NodeReports(unstamped, null)));
        Assert.Null(scenario.Step().Command);

        // node2 reports stamped: still nothing to change.
        scenario.Standby("node2", 99.95, "0/5000100");
        Assert.Null(scenario.Step().Command);

        // failTimeout (1.5 s) into the term node3 has still said nothing: dropped as any silent member is.
        scenario.Now = S(101.3);
        scenario.Primary(101.25, "0/5000100");
        scenario.Standby("node2", 101.25, "0/5000100");
        var step = scenario.Step();
        var drop = Assert.IsType<ChangeView>(step.Command ?? throw new InvalidOperationException(step.Reason));
        Assert.Equal(SyncConfig.Of(1, "node2"), drop.View.PrimarySync);
    }
}

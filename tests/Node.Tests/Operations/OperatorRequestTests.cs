using System.Collections.Immutable;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Sentinel;
using static PgRaft.Node.Tests.Sentinel.Scenario;

namespace PgRaft.Node.Tests.Operations;

/// <summary>pgraft failover, restart and reinit as the log, the sentinel, the lease rule and the keeper planner see them.</summary>
public sealed class OperatorRequestTests
{
    private static (ClusterState State, CommandResult Result) Apply(ClusterState state, ClusterCommand command) => ClusterStateApplier.Apply(state, command);

    [Fact]
    public void A_failover_request_is_checked_against_the_view_and_refuses_nonsense_with_the_reason()
    {
        var state = new Scenario(ReplicationMode.Sync).State;
        Assert.Contains("stale failover request", Apply(state, new RequestFailover(2, "node2", Wall)).Result.Message, StringComparison.Ordinal);
        Assert.Contains("node9 is not a member", Apply(state, new RequestFailover(3, "node9", Wall)).Result.Message, StringComparison.Ordinal);
        Assert.Contains("node1 is already the primary", Apply(state, new RequestFailover(3, "node1", Wall)).Result.Message, StringComparison.Ordinal);
        Assert.Contains("no primary yet", Apply(ClusterState.Empty, new RequestFailover(0, null, Wall)).Result.Message, StringComparison.Ordinal);

        var (requested, result) = Apply(state, new RequestFailover(3, "node2", Wall));
        Assert.True(result.IsApplied, result.Message);
        Assert.Equal(new PendingFailover("node1", "node2", 3, Wall), requested.Failover);
        Assert.Contains("already pending", Apply(requested, new RequestFailover(3, "node3", Wall)).Result.Message, StringComparison.Ordinal);
        Assert.Contains("a failover from node1 is pending", Apply(requested, new RequestSwitchover(3, "node3", Wall)).Result.Message, StringComparison.Ordinal);
        Assert.Contains("target of the pending failover", Apply(requested, new RemoveMember("node2")).Result.Message, StringComparison.Ordinal);

        var (cancelled, cancel) = Apply(requested, new CancelFailover("operator changed their mind"));
        Assert.True(cancel.IsApplied);
        Assert.Null(cancelled.Failover);
        Assert.Equal(new OperationNotice(1, "failover", false, "failover from node1 to node2 cancelled: operator changed their mind"), cancelled.LastNotice);
    }

    [Fact]
    public void A_paused_cluster_fails_over_on_request_after_the_last_lease_ran_out_and_to_the_node_asked_for()
    {
        var scenario = new Scenario(ReplicationMode.Async)
            .Primary(99.9, "0/5000060").Grant(99.5)
            .Standby("node2", 99.9, "0/5000000")
            .Standby("node3", 99.9, "0/5000060");
        scenario.State = Apply(scenario.State with { Spec = scenario.State.Spec with { Paused = true } }, new RequestFailover(3, "node2", Wall)).State;

        // The primary asks for its next lease: refused, so its last one runs out.
        var refusal = LeaseGrantRule.Decide(new LeaseRequest("node1", 3), true, scenario.State);
        Assert.False(refusal.Granted);
        Assert.Contains("failover from node1 to node2", refusal.Reason, StringComparison.Ordinal);

        var waiting = scenario.Step();
        Assert.Equal(SentinelStatus.WaitingForLease, waiting.Status);
        Assert.Contains("waiting 1.6 s", waiting.Reason, StringComparison.Ordinal);

        scenario.Now = S(101.7);
        scenario.Standby("node2", 101.65, "0/5000060").Standby("node3", 101.65, "0/5000060");
        var promoted = scenario.Step();
        var change = Assert.IsType<ChangeView>(promoted.Command);
        Assert.Equal("node2", change.View.Primary);
        Assert.Equal(ChangeReason.ManualFailover, change.History!.Reason);
        Assert.Null(scenario.State.Failover);
        Assert.Equal("failover", scenario.State.LastNotice!.Operation);
        Assert.True(scenario.State.LastNotice.Succeeded);
        Assert.Contains("manual failover from node1 to node2", scenario.State.LastNotice.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failover_nobody_can_carry_out_is_cancelled_at_once_so_the_primary_keeps_its_lease()
    {
        var scenario = new Scenario(ReplicationMode.Sync)
            .WithSync(new SyncConfig(ImmutableSortedSet.Create(StringComparer.Ordinal, "node3"), 1))
            .Primary(99.9, "0/5000060").Grant(99.5)
            .Standby("node2", 99.9, "0/5000060")
            .Standby("node3", 99.9, "0/5000060");
        scenario.State = Apply(scenario.State, new RequestFailover(3, "node2", Wall)).State;

        var decision = scenario.Step();

        var cancel = Assert.IsType<CancelFailover>(decision.Command);
        Assert.Contains("node2 is not in the committed sync set", cancel.Reason, StringComparison.Ordinal);
        Assert.Null(scenario.State.Failover);
        Assert.False(scenario.State.LastNotice!.Succeeded);
        Assert.True(LeaseGrantRule.Decide(new LeaseRequest("node1", 3), true, scenario.State).Granted);
    }

    [Fact]
    public void In_sync_mode_a_requested_failover_never_promotes_a_standby_behind_another_sync_standby()
    {
        var sync = new SyncConfig(ImmutableSortedSet.Create(StringComparer.Ordinal, "node2", "node3"), 1);
        var scenario = new Scenario(ReplicationMode.Sync)
            .WithSync(sync)
            .Primary(99.9, "0/5000060").Grant(99.5)
            .Standby("node2", 99.9, "0/5000000")
            .Standby("node3", 99.9, "0/5000060");
        scenario.State = Apply(scenario.State, new RequestFailover(3, "node2", Wall)).State;
        scenario.Now = S(101.7);
        scenario.Standby("node2", 101.65, "0/5000000").Standby("node3", 101.65, "0/5000060");

        var decision = scenario.Step();

        Assert.Null(decision.Command);
        Assert.Equal(SentinelStatus.NoCandidate, decision.Status);
        Assert.Contains("node3 at 0/5000060 cannot be promoted", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failover_request_left_waiting_is_cancelled_after_switchover_timeout()
    {
        var scenario = new Scenario(ReplicationMode.Async).Primary(99.9, "0/5000060").Standby("node2", 99.9, "0/5000060");
        scenario.State = Apply(scenario.State, new RequestFailover(3, "node2", Wall - TimeSpan.FromSeconds(31))).State;

        var cancel = Assert.IsType<CancelFailover>(scenario.Step().Command);

        Assert.Contains("switchoverTimeout", cancel.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Node_operations_get_ids_replace_earlier_ones_and_reinit_refuses_the_primary()
    {
        var state = new Scenario(ReplicationMode.Sync).State;
        Assert.Contains("node1 is the primary", Apply(state, new RequestNodeOperation("node1", NodeOperationKind.Reinit, Wall)).Result.Message, StringComparison.Ordinal);
        Assert.Contains("node7 is not a member", Apply(state, new RequestNodeOperation("node7", NodeOperationKind.Restart, Wall)).Result.Message, StringComparison.Ordinal);

        state = Apply(state, new RequestNodeOperation("node2", NodeOperationKind.Restart, Wall)).State;
        var (replaced, result) = Apply(state, new RequestNodeOperation("node2", NodeOperationKind.Reinit, Wall));
        Assert.Contains("replaces pending restart 1", result.Message, StringComparison.Ordinal);
        Assert.Equal(new NodeOperation(2, NodeOperationKind.Reinit, Wall), replaced.PendingOperations["node2"]);

        Assert.Equal(CommandOutcome.Rejected, Apply(replaced, new CompleteNodeOperation("node2", 1, true, "restarted")).Result.Outcome);
        var (done, _) = Apply(replaced, new CompleteNodeOperation("node2", 2, true, "re-cloned in 3.1 s"));
        Assert.Empty(done.PendingOperations);
        Assert.Equal(new OperationNotice(1, "reinit", true, "reinit of node2 done: re-cloned in 3.1 s", 2), done.LastNotice);

        var removed = Apply(Apply(replaced, new RequestNodeOperation("node3", NodeOperationKind.Restart, Wall)).State, new RemoveMember("node3")).State;
        Assert.False(removed.PendingOperations.ContainsKey("node3"));
    }

    [Fact]
    public void A_primary_restarting_for_the_operator_is_not_failed_over_while_it_reports_so()
    {
        var scenario = new Scenario(ReplicationMode.Async)
            .Primary(95, "0/5000060")
            .Standby("node2", 99.9, "0/5000060");
        scenario.State = Apply(scenario.State, new RequestNodeOperation("node1", NodeOperationKind.Restart, Wall)).State;
        scenario.Reports = scenario.Reports.With(scenario.Reports.Latest("node1")! with { ObservedAt = S(99.9), PostgresRunning = false, Healthy = false, OperationInProgress = 1 });

        Assert.Null(SentinelRules.PrimaryFailure(scenario.Input, "node1"));
        Assert.IsNotType<ChangeView>(scenario.Decide().Command);

        // The same report without the operation in progress is an unhealthy primary, failed after failTimeout.
        scenario.Reports = scenario.Reports.With(scenario.Reports.Latest("node1")! with { ObservedAt = S(99.95), OperationInProgress = null });
        Assert.NotNull(SentinelRules.PrimaryFailure(scenario.Input, "node1"));
    }

    [Fact]
    public void The_sentinel_records_what_a_keeper_reports_done_and_gives_up_on_a_silent_node()
    {
        var scenario = new Scenario(ReplicationMode.Async).Primary(99.9, "0/5000060").Standby("node2", 99.9, "0/5000060");
        scenario.State = Apply(scenario.State, new RequestNodeOperation("node2", NodeOperationKind.Restart, Wall)).State;
        scenario.State = Apply(scenario.State, new RequestNodeOperation("node3", NodeOperationKind.Restart, Wall - TimeSpan.FromSeconds(40))).State;
        scenario.Reports = scenario.Reports.With(scenario.Reports.Latest("node2")! with { ObservedAt = S(99.95), CompletedOperation = new CompletedOperation(1, true, "restarted in 0.4 s") });

        Assert.Equal(new CompleteNodeOperation("node2", 1, true, "restarted in 0.4 s"), scenario.Step().Command);
        var giveUp = Assert.IsType<CompleteNodeOperation>(scenario.Step().Command);
        Assert.Equal(("node3", 2L, false), (giveUp.NodeId, giveUp.Id, giveUp.Succeeded));
        Assert.Contains("node3 has not reported", giveUp.Message, StringComparison.Ordinal);
        Assert.Empty(scenario.State.PendingOperations);
    }

    [Fact]
    public void The_keeper_restarts_or_reclones_for_a_pending_operation_once_and_says_so_otherwise()
    {
        var state = new Scenario(ReplicationMode.Async).State;
        state = Apply(state, new RequestNodeOperation("node1", NodeOperationKind.Restart, Wall)).State;
        state = Apply(state, new RequestNodeOperation("node2", NodeOperationKind.Reinit, Wall)).State;
        var primary = new LocalPostgres(true, true, PgRole.Primary, SystemId, 1, new Lsn(0x5000060), null, "");
        var standby = new LocalPostgres(true, true, PgRole.Standby, SystemId, 1, new Lsn(0x5000060), "node1", "");

        Assert.Equal(1, Assert.IsType<RestartAction>(KeeperPlanner.Plan(new KeeperSituation("node1", state, primary, true))).OperationId);
        Assert.IsType<FenceAction>(KeeperPlanner.Plan(new KeeperSituation("node1", state, primary, false)));
        Assert.IsType<WaitAction>(KeeperPlanner.Plan(new KeeperSituation("node1", state, primary, true, CompletedOperationId: 1)));
        var clone = Assert.IsType<CloneAction>(KeeperPlanner.Plan(new KeeperSituation("node2", state, standby, false)));
        Assert.Equal(("node1", (long?)2), (clone.Upstream, clone.OperationId));

        var stopped = standby with { Running = false };
        var restartStopped = state with { Operations = state.PendingOperations.SetItem("node2", new NodeOperation(3, NodeOperationKind.Restart, Wall)), LastOperationId = 3 };
        var end = Assert.IsType<EndOperationAction>(KeeperPlanner.Plan(new KeeperSituation("node2", restartStopped, stopped, false)));
        Assert.True(end.Succeeded);

        // node2 became primary before its reinit ran: the keeper gives it up rather than re-clone a primary.
        var promoted = state with { View = state.View with { Generation = 4, Primary = "node2", Upstreams = state.View.Upstreams.Remove("node2").SetItem("node1", "node2") } };
        var refused = Assert.IsType<EndOperationAction>(KeeperPlanner.Plan(new KeeperSituation("node2", promoted, standby, true)));
        Assert.False(refused.Succeeded);
    }

    [Fact]
    public void Lease_timings_can_rise_but_not_fall_on_a_running_cluster()
    {
        var state = new Scenario(ReplicationMode.Async).State;
        var lower = Apply(state, new PatchSpec(new SpecPatch { LeaseTimeout = TimeSpan.FromMilliseconds(1000) })).Result;
        Assert.Equal(CommandOutcome.Rejected, lower.Outcome);
        Assert.Contains("can only be raised on a running cluster", lower.Message, StringComparison.Ordinal);
        Assert.True(Apply(state, new PatchSpec(new SpecPatch { LeaseTimeout = TimeSpan.FromMilliseconds(3000) })).Result.IsApplied);
        Assert.True(Apply(state with { Bootstrap = null }, new PatchSpec(new SpecPatch { LeaseTimeout = TimeSpan.FromMilliseconds(1000) })).Result.IsApplied);
    }
}

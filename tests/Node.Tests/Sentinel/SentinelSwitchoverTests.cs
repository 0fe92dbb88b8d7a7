using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;
using static PgRaft.Node.Tests.Sentinel.Scenario;

namespace PgRaft.Node.Tests.Sentinel;

public sealed class SentinelSwitchoverTests
{
    private static Scenario Requested(string? to, ReplicationMode mode = ReplicationMode.Sync)
    {
        var scenario = new Scenario(mode)
            .WithSync(mode == ReplicationMode.Async ? SyncConfig.Async : SyncConfig.Of(1, "node2", "node3"))
            .Primary(99.9, "0/5000100").Grant(99.8)
            .Standby("node2", 99.9, "0/5000100")
            .Standby("node3", 99.9, "0/5000100");
        var (state, result) = ClusterStateApplier.Apply(scenario.State, new RequestSwitchover(scenario.State.View.Generation, to, Wall));
        Assert.True(result.IsApplied, result.Message);
        scenario.State = state;
        return scenario;
    }

    [Fact]
    public void A_switchover_waits_for_the_primary_to_stop_then_for_the_target_to_catch_up_then_promotes_without_a_lease_wait()
    {
        var scenario = Requested("node3");
        var generation = scenario.State.View.Generation;

        var draining = scenario.Step();
        Assert.Null(draining.Command);
        Assert.Equal(SentinelStatus.Switchover, draining.Status);
        Assert.Contains("waiting for node1 to stop", draining.Reason, StringComparison.Ordinal);

        scenario.Now = S(100.1);
        scenario.Primary(100.05, "0/5000200", stoppedFor: generation);
        var stopped = Assert.IsType<SwitchoverStopped>(scenario.Step().Command);
        Assert.Equal(Lsn.Parse("0/5000200"), stopped.FinalLsn);
        Assert.Equal(SwitchoverPhase.CatchingUp, scenario.State.Switchover!.Phase);

        scenario.Standby("node2", 100.1, "0/5000200").Standby("node3", 100.1, "0/5000180");
        var catchingUp = scenario.Step();
        Assert.Null(catchingUp.Command);
        Assert.Contains("waiting for a standby to reach 0/5000200 (node3 at 0/5000180)", catchingUp.Reason, StringComparison.Ordinal);

        // node1's lease (granted at 99.8) is still valid at 100.2, but PostgreSQL on node1 is stopped: no wait.
        scenario.Now = S(100.2);
        scenario.Standby("node3", 100.2, "0/5000200");
        var promote = Assert.IsType<ChangeView>(scenario.Step().Command);
        Assert.Equal("node3", promote.View.Primary);
        Assert.Equal(new HistoryEntry(generation + 1, "node1", "node3", ChangeReason.Switchover, 1, Lsn.Parse("0/5000200"), Wall), promote.History);
        Assert.Null(scenario.State.Switchover);
    }

    [Fact]
    public void A_switchover_to_the_best_standby_takes_the_first_that_caught_up()
    {
        var scenario = Requested(null, ReplicationMode.Async);
        scenario.Primary(100, "0/5000200", stoppedFor: scenario.State.View.Generation);
        Assert.IsType<SwitchoverStopped>(scenario.Step().Command);
        scenario.Standby("node2", 100, "0/5000200").Standby("node3", 100, "0/5000100");

        Assert.Equal("node2", Assert.IsType<ChangeView>(scenario.Step().Command).View.Primary);
    }

    [Fact]
    public void A_switchover_whose_target_is_unhealthy_is_cancelled()
    {
        var scenario = Requested("node3");
        scenario.Standby("node3", 99.95, "0/5000100", healthy: false);

        var decision = scenario.Step();

        Assert.Equal(new CancelSwitchover("target node3 is not a healthy running standby"), decision.Command);
        Assert.Null(scenario.State.Switchover);
    }

    [Fact]
    public void A_primary_that_runs_again_during_a_switchover_gets_the_full_lease_wait()
    {
        var scenario = Requested("node2");
        scenario.Primary(100, "0/5000200", stoppedFor: scenario.State.View.Generation);
        Assert.IsType<SwitchoverStopped>(scenario.Step().Command);
        scenario.Standby("node2", 100, "0/5000200").Primary(100, "0/5000200");

        var decision = scenario.Step();

        Assert.Null(decision.Command);
        Assert.Equal(SentinelStatus.WaitingForLease, decision.Status);
    }

    [Fact]
    public void No_lease_is_granted_to_a_primary_that_is_handing_over()
    {
        var scenario = Requested("node2");
        var request = new PgRaft.Node.Lease.LeaseRequest("node1", scenario.State.View.Generation);

        var decision = PgRaft.Node.Lease.LeaseGrantRule.Decide(request, stillLeaderAfterQuorumRound: true, scenario.State);

        Assert.False(decision.Granted);
        Assert.Contains("switchover", decision.Reason, StringComparison.Ordinal);
    }
}

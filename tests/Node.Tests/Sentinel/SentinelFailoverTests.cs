using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;
using static PgRaft.Node.Tests.Sentinel.Scenario;

namespace PgRaft.Node.Tests.Sentinel;

public sealed class SentinelFailoverTests
{
    [Fact]
    public void A_silent_primary_is_replaced_by_the_most_advanced_standby_and_the_reason_says_why()
    {
        var scenario = new Scenario(ReplicationMode.Async)
            .Primary(98.4, "0/5000060").Grant(97.8)
            .Standby("node2", 99.9, "0/5000060")
            .Standby("node3", 99.8, "0/5000000");

        var decision = scenario.Decide();

        Assert.Equal("promoting node2: primary node1 silent for 1.6 s; node2 at 0/5000060, node3 at 0/5000000", decision.Reason);
        Assert.Equal(SentinelStatus.FailingOver, decision.Status);
        var change = Assert.IsType<ChangeView>(decision.Command);
        Assert.Equal("node2", change.View.Primary);
        Assert.Equal(4, change.View.Generation);
        Assert.Equal(new HistoryEntry(4, "node1", "node2", ChangeReason.Failover, 1, Lsn.Parse("0/5000060"), Wall), change.History);
        Assert.Equal("node2", change.View.Upstreams["node1"]);
        Assert.Equal("node2", change.View.Upstreams["node3"]);
    }

    [Fact]
    public void Equal_positions_are_decided_by_priority_then_node_id()
    {
        var scenario = new Scenario(ReplicationMode.Async, ("node1", MemberTags.None), ("node2", MemberTags.None), ("node3", new MemberTags { Priority = 1 }), ("node4", new MemberTags { Priority = 1 }))
            .Primary(98, "0/5000060")
            .Standby("node2", 99.9, "0/5000060")
            .Standby("node3", 99.9, "0/5000060")
            .Standby("node4", 99.9, "0/5000060");

        Assert.Equal("node3", Assert.IsType<ChangeView>(scenario.Decide().Command).View.Primary);
    }

    [Fact]
    public void No_candidate_means_no_failover_with_every_reason_shown()
    {
        var scenario = new Scenario(ReplicationMode.Async, ("node1", MemberTags.None), ("node2", MemberTags.None), ("node3", new MemberTags { NoFailover = true }))
            .Primary(98, "0/5C00000")
            .Standby("node2", 99.9, "0/5000000")
            .Standby("node3", 99.9, "0/5C00000");

        var decision = scenario.Decide();

        Assert.Null(decision.Command);
        Assert.Equal(SentinelStatus.NoCandidate, decision.Status);
        Assert.StartsWith("not failing over: primary node1 silent for 2.0 s", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("node3 is nofailover", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("node2 lags 12 MB > maxLagOnFailover 1 MB", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_primary_that_reports_unhealthy_for_fail_timeout_is_failed_but_not_sooner()
    {
        var scenario = new Scenario(ReplicationMode.Async)
            .Primary(98.0, "0/5000060")
            .Primary(99.9, "0/5000060", healthy: false)
            .Standby("node2", 99.9, "0/5000060")
            .Standby("node3", 99.9, "0/5000000");
        scenario.Now = S(99.4);
        var early = scenario.Decide();
        Assert.Null(early.Command);
        Assert.Equal(SentinelStatus.PrimaryUnhealthy, early.Status);

        scenario.Now = S(100);
        var decision = scenario.Decide();
        Assert.Equal("node2", Assert.IsType<ChangeView>(decision.Command).View.Primary);
        Assert.Contains("primary node1 unhealthy for 2.0 s (could not connect to PostgreSQL)", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Promotion_waits_until_the_last_lease_granted_has_run_out()
    {
        var scenario = new Scenario(ReplicationMode.Async)
            .Primary(98.0, "0/5000060").Grant(98.9)
            .Standby("node2", 99.9, "0/5000060");

        var waiting = scenario.Decide();
        Assert.Null(waiting.Command);
        Assert.Equal(SentinelStatus.WaitingForLease, waiting.Status);
        Assert.Contains("waiting 1.0 s", waiting.Reason, StringComparison.Ordinal);

        scenario.Now = S(100.999);
        Assert.Null(scenario.Decide().Command);
        scenario.Now = S(101.0);
        scenario.Standby("node2", 100.9, "0/5000060");
        Assert.Equal("node2", Assert.IsType<ChangeView>(scenario.Decide().Command).View.Primary);
    }

    [Fact]
    public void A_new_leader_waits_a_lease_from_its_term_start_even_without_any_grant()
    {
        var scenario = new Scenario(ReplicationMode.Async) { Leases = PgRaft.Node.Lease.LeaseTable.StartTerm(S(98.5)) }
            .Standby("node2", 99.9, "0/5000060");
        scenario.Now = S(100);
        Assert.Null(scenario.Decide().Command);
        Assert.Contains("primary node1 silent for 1.5 s", scenario.Decide().Reason, StringComparison.Ordinal);

        scenario.Now = S(100.6);
        scenario.Standby("node2", 100.5, "0/5000060");
        var decision = scenario.Decide();
        Assert.Equal("node2", Assert.IsType<ChangeView>(decision.Command).View.Primary);

        // The old primary's position is unknown to a new leader: candidates are compared with the best standby.
        Assert.Contains("promoting node2", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Paused_means_no_failover_and_says_so()
    {
        var scenario = new Scenario(ReplicationMode.Async).Primary(95, "0/5000060").Standby("node2", 99.9, "0/5000060");
        scenario.State = scenario.State with { Spec = scenario.State.Spec with { Paused = true } };

        var decision = scenario.Decide();

        Assert.Null(decision.Command);
        Assert.Equal(SentinelStatus.Paused, decision.Status);
        Assert.Equal("paused: not failing over although primary node1 silent for 5.0 s", decision.Reason);
    }

    [Fact]
    public void A_standby_on_another_timeline_or_system_is_no_candidate()
    {
        var scenario = new Scenario(ReplicationMode.Async)
            .Primary(98, "0/5000060")
            .Standby("node2", 99.9, "0/5000060", timeline: 2)
            .Standby("node3", 99.9, "0/5000060", healthy: false);

        var decision = scenario.Decide();

        Assert.Null(decision.Command);
        Assert.Contains("node2 is on timeline 2, the primary on 1", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("node3 is not a healthy running standby", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void In_sync_mode_any_one_of_two_waits_for_both_positions_and_takes_the_most_advanced()
    {
        var scenario = new Scenario(ReplicationMode.Sync, ("node1", MemberTags.None), ("node2", new MemberTags { Priority = 5 }), ("node3", MemberTags.None))
            .WithSync(SyncConfig.Of(1, "node2", "node3"))
            .Primary(98, "0/5000100").Grant(97.9)
            .Standby("node2", 100.0, "0/5000060")
            .Standby("node3", 99.0, "0/5000100");

        // node3's last report predates the end of node1's lease: its final position is unknown, so wait.
        var waiting = scenario.Decide();
        Assert.Null(waiting.Command);
        Assert.Equal(SentinelStatus.NoCandidate, waiting.Status);
        Assert.Contains("only 1 of the sync set ANY 1 (node2, node3) reported a final position, 2 needed", waiting.Reason, StringComparison.Ordinal);

        scenario.Standby("node3", 100.0, "0/5000100");
        var decision = scenario.Decide();
        Assert.Equal("node3", Assert.IsType<ChangeView>(decision.Command).View.Primary);
    }

    [Fact]
    public void In_sync_mode_a_standby_outside_the_committed_set_is_never_promoted()
    {
        var scenario = new Scenario(ReplicationMode.Sync)
            .WithSync(SyncConfig.Of(1, "node2"))
            .Primary(98, "0/5000100")
            .Standby("node2", 100, "0/5000000", healthy: false)
            .Standby("node3", 100, "0/5000100");

        var decision = scenario.Decide();

        Assert.Null(decision.Command);
        Assert.Contains("the most advanced sync standby node2 at 0/5000000 cannot be promoted", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("node3 is not in the committed sync set", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void With_any_two_of_three_two_final_positions_are_enough()
    {
        var scenario = new Scenario(ReplicationMode.Sync, ("node1", MemberTags.None), ("node2", MemberTags.None), ("node3", MemberTags.None), ("node4", MemberTags.None))
            .WithSync(SyncConfig.Of(2, "node2", "node3", "node4"))
            .Primary(98, "0/5000100")
            .Standby("node2", 100, "0/5000080")
            .Standby("node3", 100, "0/5000100");

        Assert.Equal("node3", Assert.IsType<ChangeView>(scenario.Decide().Command).View.Primary);
    }

    [Fact]
    public void A_sync_set_the_primary_never_confirmed_allows_no_failover()
    {
        var scenario = new Scenario(ReplicationMode.Sync)
            .WithSync(SyncConfig.Of(0, "node2"), SyncConfig.Of(1, "node2"))
            .Primary(98, "0/5000100")
            .Standby("node2", 100, "0/5000100");

        var decision = scenario.Decide();

        Assert.Null(decision.Command);
        Assert.Contains("no synchronous standby is confirmed", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void After_a_sync_failover_the_new_primary_starts_with_the_remaining_standbys()
    {
        var scenario = new Scenario(ReplicationMode.Sync)
            .WithSync(SyncConfig.Of(1, "node2", "node3"))
            .Primary(98, "0/5000100")
            .Standby("node2", 100, "0/5000100")
            .Standby("node3", 100, "0/5000080");

        var change = Assert.IsType<ChangeView>(scenario.Step().Command);

        Assert.Equal("node2", change.View.Primary);
        Assert.Equal(SyncConfig.Of(0, "node3"), change.View.Sync);
        Assert.Equal(SyncConfig.Of(1, "node3"), change.View.PrimarySync);
    }

    [Fact]
    public void A_primary_whose_postgresql_stays_down_gets_no_more_leases_once_failed_so_the_failover_proceeds()
    {
        var scenario = new Scenario(ReplicationMode.Async)
            .Primary(97.0, "0/5000060")
            .Primary(99.9, "0/5000060", healthy: false)
            .Standby("node2", 99.9, "0/5000060");
        var request = new PgRaft.Node.Lease.LeaseRequest("node1", scenario.State.View.Generation);
        scenario.Now = S(98.4);
        Assert.True(PgRaft.Node.Lease.LeaseGrantRule.Decide(request, true, scenario.State, SentinelRules.FailoverDue(scenario.Input, "node1")).Granted);
        scenario.Grant(98.4);

        // From 98.5 node1 counts as failed: its keeper keeps asking, but the grants stop.
        for (var t = 98.5; t < 100.6; t += 0.05)
        {
            scenario.Now = S(t);
            var decision = PgRaft.Node.Lease.LeaseGrantRule.Decide(request, true, scenario.State, SentinelRules.FailoverDue(scenario.Input, "node1"));
            Assert.False(decision.Granted);
            Assert.Contains("unhealthy", decision.Reason, StringComparison.Ordinal);
        }

        scenario.Now = S(100.5);
        scenario.Standby("node2", 100.45, "0/5000060");
        Assert.Equal("node2", Assert.IsType<ChangeView>(scenario.Decide().Command).View.Primary);

        // While paused, or with nobody to take over, the primary keeps its lease and may recover in place.
        var paused = scenario.State with { Spec = scenario.State.Spec with { Paused = true } };
        Assert.True(PgRaft.Node.Lease.LeaseGrantRule.Decide(request, true, paused, SentinelRules.FailoverDue(scenario.Input with { State = paused }, "node1")).Granted);
        scenario.Standby("node2", 100.45, "0/5000060", healthy: false);
        Assert.True(PgRaft.Node.Lease.LeaseGrantRule.Decide(request, true, scenario.State, SentinelRules.FailoverDue(scenario.Input, "node1")).Granted);
    }
}

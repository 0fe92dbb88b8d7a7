using System.Collections.Immutable;
using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Tests.Cluster;

namespace PgRaft.Node.Tests.Lease;

public sealed class LeaseTests
{
    private static readonly TimeSpan LeaseTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan FenceMargin = TimeSpan.FromMilliseconds(500);

    private static TimeSpan Ms(long ms) => TimeSpan.FromMilliseconds(ms);

    private static ClusterState PrimaryAt(string primary, long generation)
    {
        var members = new[] { "node1", "node2" }.ToImmutableSortedDictionary(id => id, id => Fixtures.Member(id), StringComparer.Ordinal);
        return ClusterState.Empty with { Members = members, View = ClusterView.Empty with { Generation = generation, Primary = primary } };
    }

    [Fact]
    public void The_leader_grants_only_to_the_primary_of_the_committed_view_after_confirming_its_leadership()
    {
        var state = PrimaryAt("node1", 4);

        Assert.True(LeaseGrantRule.Decide(new LeaseRequest("node1", 4), true, state).Granted);
        var notLeader = LeaseGrantRule.Decide(new LeaseRequest("node1", 4), false, state);
        Assert.False(notLeader.Granted);
        Assert.Contains("leader", notLeader.Reason, StringComparison.Ordinal);
        var otherNode = LeaseGrantRule.Decide(new LeaseRequest("node2", 4), true, state);
        Assert.False(otherNode.Granted);
        Assert.Contains("names node1, not node2", otherNode.Reason, StringComparison.Ordinal);
        // A keeper that has not applied a sync-set change yet still renews: the view names it primary either way.
        Assert.True(LeaseGrantRule.Decide(new LeaseRequest("node1", 3), true, state).Granted);
        var ahead = LeaseGrantRule.Decide(new LeaseRequest("node1", 5), true, state);
        Assert.False(ahead.Granted);
        Assert.Contains("behind the request's 5", ahead.Reason, StringComparison.Ordinal);
        Assert.False(LeaseGrantRule.Decide(new LeaseRequest("node2", 3), true, state).Granted);
    }

    [Fact]
    public void The_named_target_of_a_pending_switchover_gets_its_lease_before_the_promotion_and_nobody_else_does()
    {
        var switching = PrimaryAt("node1", 4) with
        {
            Switchover = new PendingSwitchover("node1", "node2", 4, SwitchoverPhase.CatchingUp, new Lsn(0x5000060), 1, DateTimeOffset.UnixEpoch),
        };
        var target = LeaseGrantRule.Decide(new LeaseRequest("node2", 4), true, switching);
        Assert.True(target.Granted);
        Assert.Contains("target of the pending switchover", target.Reason, StringComparison.Ordinal);
        Assert.False(LeaseGrantRule.Decide(new LeaseRequest("node2", 4), false, switching).Granted);
        Assert.False(LeaseGrantRule.Decide(new LeaseRequest("node1", 4), true, switching).Granted);

        // Without a named target (the best standby at promotion time) nobody is granted ahead.
        var anyTarget = switching with { Switchover = switching.Switchover! with { To = null } };
        Assert.False(LeaseGrantRule.Decide(new LeaseRequest("node2", 4), true, anyTarget).Granted);
    }

    [Fact]
    public void The_table_records_grants_and_says_when_every_lease_has_run_out()
    {
        var table = LeaseTable.StartTerm(Ms(10_000));
        var drift = Ms(100);
        Assert.Equal(Ms(12_100), table.ExpiredAt("node1", LeaseTimeout, drift));

        var request = new LeaseRequest("node1", 4);
        table = LeaseGrantRule.Record(table, request, new LeaseGrantDecision(true, "ok"), Ms(11_000));
        Assert.Equal(Ms(13_100), table.ExpiredAt("node1", LeaseTimeout, drift));
        table = LeaseGrantRule.Record(table, request, new LeaseGrantDecision(false, "no"), Ms(12_000));
        Assert.Equal(Ms(13_100), table.ExpiredAt("node1", LeaseTimeout, drift));

        // A grant recorded out of order never moves the last grant back.
        table = table.WithGrant("node1", Ms(10_500));
        Assert.Equal(Ms(11_000), table.LastGrantTo("node1"));
        Assert.Null(table.LastGrantTo("node2"));
    }

    [Fact]
    public void A_request_that_got_no_grant_lets_the_next_go_at_once_without_touching_the_lease()
    {
        var holder = LeaseHolder.None(LeaseTimeout, FenceMargin).Requesting(Ms(1_000)).OnGranted(Ms(1_000), 4).Requesting(Ms(1_500));
        Assert.False(holder.ShouldRenew(Ms(1_600)));

        // The leader changed (or did not answer) while the request waited: ask the next one now, not at 2_000.
        var renewing = holder.RenewNow();
        Assert.True(renewing.ShouldRenew(Ms(1_600)));
        Assert.Equal(holder.ExpiresAt, renewing.ExpiresAt);
        Assert.Equal(holder.FenceAt, renewing.FenceAt);
        Assert.True(renewing.IsValid(Ms(1_600), 4));
    }

    [Fact]
    public void The_keeper_holds_the_lease_from_its_send_time_and_fences_a_margin_early()
    {
        var holder = LeaseHolder.None(LeaseTimeout, FenceMargin);
        Assert.False(holder.IsValid(Ms(0), 0));
        Assert.True(holder.ShouldRenew(Ms(0)));

        holder = holder.Requesting(Ms(1_000));
        Assert.False(holder.ShouldRenew(Ms(1_200)));
        Assert.True(holder.ShouldRenew(Ms(1_250)));
        Assert.Equal(Ms(500), holder.RequestTimeout);
        holder = holder.OnGranted(Ms(1_000), 4);

        Assert.Equal(Ms(3_000), holder.ExpiresAt);
        Assert.Equal(Ms(2_500), holder.FenceAt);
        Assert.True(holder.IsValid(Ms(2_499), 4));
        Assert.False(holder.IsValid(Ms(2_500), 4));
        Assert.True(holder.MustFence(Ms(2_500), 4));
        Assert.False(holder.IsValid(Ms(2_000), 5));

        // A late answer to an older request never shortens the lease; an older generation is ignored.
        Assert.Equal(Ms(3_000), holder.OnGranted(Ms(900), 4).ExpiresAt);
        Assert.Equal(Ms(3_000), holder.OnGranted(Ms(1_800), 3).ExpiresAt);
        Assert.Equal(Ms(3_500), holder.OnGranted(Ms(1_500), 4).ExpiresAt);
        Assert.False(holder.Released().IsValid(Ms(1_100), 4));
    }

    [Fact]
    public void A_fence_margin_as_long_as_the_lease_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => LeaseHolder.None(LeaseTimeout, LeaseTimeout));

    [Fact]
    public void With_clock_rates_within_the_drift_margin_the_keeper_fences_before_the_leader_may_promote() =>
        Properties.ForAllSeeds(211, 2000, seed => LeaseRunsOutBeforePromotion(ClusterSpec.Default, seed));

    [Fact]
    public void Without_a_drift_margin_the_same_property_is_caught_failing() =>
        Assert.ThrowsAny<Exception>(() =>
            Properties.ForAllSeeds(212, 2000, seed => LeaseRunsOutBeforePromotion(ClusterSpec.Default with { DriftMargin = TimeSpan.Zero }, seed)));

    /// <summary>Real time is what no node can read; each clock runs at its own rate (±1 %) from its own origin.</summary>
    private static bool LeaseRunsOutBeforePromotion(ClusterSpec spec, int seed)
    {
        var random = new Random(seed);
        var keeperRate = 0.99 + (random.NextDouble() * 0.02);
        var leaderRate = 0.99 + (random.NextDouble() * 0.02);
        var keeperOrigin = random.Next(0, 1_000_000);
        var leaderOrigin = random.Next(0, 1_000_000);
        TimeSpan KeeperClock(double realMs) => Ms((long)Math.Floor(keeperOrigin + (realMs * keeperRate)));
        TimeSpan LeaderClock(double realMs) => Ms((long)Math.Ceiling(leaderOrigin + (realMs * leaderRate)));

        var holder = LeaseHolder.None(spec.LeaseTimeout, spec.FenceMargin);
        var table = LeaseTable.StartTerm(LeaderClock(0));
        double real = 0;
        for (var i = 0; i < 20; i++)
        {
            real += random.Next(0, 800);
            var t0 = KeeperClock(real);
            holder = holder.Requesting(t0);
            real += random.Next(0, 300); // request in flight and the quorum round
            table = table.WithGrant("node1", LeaderClock(real));
            real += random.Next(0, 300); // answer in flight (or lost: then the keeper's lease just runs out)
            if (random.Next(4) != 0)
            {
                holder = holder.OnGranted(t0, 1);
            }
        }

        // The real moment the keeper starts fencing, and the real moment the leader may promote another node.
        var fenceReal = (holder.FenceAt is { } fence ? fence.TotalMilliseconds - keeperOrigin : 0) / keeperRate;
        var promoteReal = (table.ExpiredAt("node1", spec.LeaseTimeout, spec.DriftMargin).TotalMilliseconds - leaderOrigin) / leaderRate;
        return fenceReal + spec.FenceMargin.TotalMilliseconds <= promoteReal + 1;
    }
}

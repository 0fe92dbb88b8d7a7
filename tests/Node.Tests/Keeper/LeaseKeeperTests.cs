using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Leader;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Support;

namespace PgRaft.Node.Tests.Keeper;

public sealed class LeaseKeeperTests
{
    private static readonly TimeSpan LeaseTimeout = TimeSpan.FromMilliseconds(1500);
    private static readonly TimeSpan FenceMargin = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// Found by bench/failover: the lease loop renewed at generation 9 (a sync-set change just committed) while the
    /// reconcile loop still planned with generation 8, and the healthy new primary fenced itself.
    /// </summary>
    [Fact]
    public void A_lease_renewed_at_a_newer_generation_still_counts_for_a_keeper_that_applied_an_older_one()
    {
        var time = new ManualTimeProvider();
        var lease = new LeaseKeeper(new MonotonicClock(time), LeaseTimeout, FenceMargin);
        lease.Granted(lease.Requesting(), generation: 9);

        var situation = new KeeperSituation("node1", PrimaryAt(8), RunningPrimary, lease.HoldsLease);
        Assert.IsNotType<FenceAction>(KeeperPlanner.Plan(situation));
        Assert.Equal(LeaseTimeout - FenceMargin, lease.RemainingUntilFence);
    }

    [Fact]
    public void The_lease_ends_at_its_fence_time_and_on_release()
    {
        var time = new ManualTimeProvider();
        var lease = new LeaseKeeper(new MonotonicClock(time), LeaseTimeout, FenceMargin);
        Assert.False(lease.HoldsLease);

        lease.Granted(lease.Requesting(), generation: 3);
        time.Advance(LeaseTimeout - FenceMargin - TimeSpan.FromMilliseconds(1));
        Assert.True(lease.HoldsLease);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(lease.HoldsLease);
        Assert.Equal(TimeSpan.Zero, lease.RemainingUntilFence);
        Assert.IsType<FenceAction>(KeeperPlanner.Plan(new KeeperSituation("node1", PrimaryAt(3), RunningPrimary, lease.HoldsLease)));

        lease.Granted(lease.Requesting(), generation: 3);
        Assert.True(lease.HoldsLease);
        lease.Release();
        Assert.False(lease.HoldsLease);
    }

    private static readonly LocalPostgres RunningPrimary = new(true, true, PgRole.Primary, 7, 1, new Lsn(0x5000000), null, "");

    private static ClusterState PrimaryAt(long generation) =>
        ClusterState.Empty with
        {
            View = ClusterView.Empty with { Generation = generation, Primary = "node1" },
            Bootstrap = new BootstrapRecord("node1", 7, true),
        };
}

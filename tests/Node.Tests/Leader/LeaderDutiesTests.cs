using PgRaft.Node.Cluster;
using PgRaft.Node.Leader;
using PgRaft.Node.Tests.Support;

namespace PgRaft.Node.Tests.Leader;

public sealed class LeaderDutiesTests
{
    private static readonly ClusterSpec Spec = ClusterSpec.Default;

    [Fact]
    public void A_revoked_primary_gets_no_grant_at_its_generation_nor_at_an_older_one()
    {
        // Seed 5011303 (before this fix): node2 restarted, replayed its log and asked for its lease at generation 11,
        // while the sentinel had revoked (node2, 12) to fail over; the grant went through, and node2 started writing
        // beside the promoted node3.
        var duties = new LeaderDuties(new MonotonicClock(new ManualTimeProvider()));
        duties.EnsureTerm(3);
        Assert.True(duties.RecordGrant(3, "node2", 11));

        duties.RevokeAndCheckExpired("node2", 12, Spec.LeaseTimeout, Spec.DriftMargin);

        Assert.False(duties.RecordGrant(3, "node2", 12));
        Assert.False(duties.RecordGrant(3, "node2", 11));
        Assert.True(duties.RecordGrant(3, "node2", 13));
        Assert.True(duties.RecordGrant(3, "node3", 12));
        Assert.False(duties.RecordGrant(2, "node3", 12));
    }

    [Fact]
    public void A_revocation_is_lifted_when_the_sentinel_replaces_nobody_unless_a_replacement_may_still_be_applied()
    {
        // Seed 5010475 (before this fix): the sentinel revoked node2's leases to promote n1 in a switchover, waited for
        // the lease, then cancelled the switchover; node2 restarted in place but was refused every lease for the rest
        // of the term ("a failover away from this primary is under way") and the cluster never had a primary again.
        var time = new ManualTimeProvider();
        var duties = new LeaderDuties(new MonotonicClock(time));
        duties.EnsureTerm(3);
        Assert.True(duties.RecordGrant(3, "node2", 3));
        Assert.False(duties.RevokeAndCheckExpired("node2", 3, Spec.LeaseTimeout, Spec.DriftMargin));
        Assert.False(duties.RecordGrant(3, "node2", 3));

        duties.LiftRevocation();
        Assert.True(duties.RecordGrant(3, "node2", 3));

        // The wait starts again from that grant.
        time.Advance(Spec.LeaseTimeout);
        Assert.False(duties.RevokeAndCheckExpired("node2", 3, Spec.LeaseTimeout, Spec.DriftMargin));
        time.Advance(Spec.DriftMargin);
        Assert.True(duties.RevokeAndCheckExpired("node2", 3, Spec.LeaseTimeout, Spec.DriftMargin));

        // A replacing proposal whose outcome is unknown keeps the revocation for the rest of the term.
        duties.ReplacementMayBePending();
        duties.LiftRevocation();
        Assert.False(duties.RecordGrant(3, "node2", 3));
        duties.EnsureTerm(4);
        Assert.True(duties.RecordGrant(4, "node2", 3));
    }
}

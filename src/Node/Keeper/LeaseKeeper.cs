using PgRaft.Node.Lease;
using PgRaft.Node.Leader;

namespace PgRaft.Node.Keeper;

/// <summary>
/// The keeper's side of the primary lease (DESIGN §7): the current <see cref="LeaseHolder"/>, updated by the renewal
/// loop and read by the reconcile loop. Thread-safe.
/// </summary>
internal sealed class LeaseKeeper(MonotonicClock clock, TimeSpan leaseTimeout, TimeSpan fenceMargin)
{
    private LeaseHolder _holder = LeaseHolder.None(leaseTimeout, fenceMargin);

    public LeaseHolder Holder => Volatile.Read(ref _holder);

    /// <summary>This node's monotonic clock, which the lease is held by.</summary>
    public MonotonicClock Clock => clock;

    /// <summary>
    /// True while the last grant has not reached its fence time, whatever generation it was granted at: the leader
    /// grants only while its committed view names this node primary, its lease table is per node, and it never names
    /// another node before this node's last grant ran out. The keeper's own applied view may be a generation behind
    /// the one the lease loop renewed at (the two loops read the state at different moments); that is no reason to fence.
    /// </summary>
    public bool HoldsLease =>
        Holder is { FenceAt: { } fenceAt } && clock.Now < fenceAt;

    /// <summary>Time left until fencing must start; zero when there is no valid lease.</summary>
    public TimeSpan RemainingUntilFence =>
        HoldsLease && Holder.FenceAt is { } fenceAt ? fenceAt - clock.Now : TimeSpan.Zero;

    public TimeSpan Requesting()
    {
        var t0 = clock.Now;
        Update(h => h.Requesting(t0));
        return t0;
    }

    public void Granted(TimeSpan t0, long generation) => Update(h => h.OnGranted(t0, generation));

    /// <summary>The next renewal goes at once (see <see cref="LeaseHolder.RenewNow"/>).</summary>
    public void RenewNow() => Update(h => h.RenewNow());

    public void Release() => Update(h => h.Released());

    /// <summary>Adopts new timings from the spec, keeping no lease (safe: a lease is never extended by a change).</summary>
    public void Reconfigure(TimeSpan newLeaseTimeout, TimeSpan newFenceMargin)
    {
        if (Holder.LeaseTimeout != newLeaseTimeout || Holder.FenceMargin != newFenceMargin)
        {
            Volatile.Write(ref _holder, LeaseHolder.None(newLeaseTimeout, newFenceMargin));
        }
    }

    private void Update(Func<LeaseHolder, LeaseHolder> change)
    {
        while (true)
        {
            var current = Volatile.Read(ref _holder);
            if (ReferenceEquals(Interlocked.CompareExchange(ref _holder, change(current), current), current))
            {
                return;
            }
        }
    }
}

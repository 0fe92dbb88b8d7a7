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
    /// True while a lease granted at <paramref name="generation"/> or earlier has not reached its fence time. A newer
    /// generation that still names this node primary (a sync-set change) keeps the lease: the leader's lease table is
    /// per node, and it never promotes another node before this node's last grant ran out.
    /// </summary>
    public bool HoldsLease(long generation) =>
        Holder is { FenceAt: { } fenceAt } holder && holder.Generation <= generation && clock.Now < fenceAt;

    /// <summary>Time left until fencing must start; zero when there is no valid lease.</summary>
    public TimeSpan RemainingUntilFence(long generation) =>
        HoldsLease(generation) && Holder.FenceAt is { } fenceAt ? fenceAt - clock.Now : TimeSpan.Zero;

    public TimeSpan Requesting()
    {
        var t0 = clock.Now;
        Update(h => h.Requesting(t0));
        return t0;
    }

    public void Granted(TimeSpan t0, long generation) => Update(h => h.OnGranted(t0, generation));

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

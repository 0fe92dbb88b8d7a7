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

    public bool HoldsLease(long generation) => Holder.IsValid(clock.Now, generation);

    /// <summary>Time left until fencing must start; zero or less when there is no valid lease.</summary>
    public TimeSpan RemainingUntilFence(long generation) =>
        Holder.IsValid(clock.Now, generation) && Holder.FenceAt is { } fenceAt ? fenceAt - clock.Now : TimeSpan.Zero;

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

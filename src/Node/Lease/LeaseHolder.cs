namespace PgRaft.Node.Lease;

/// <summary>
/// The keeper side of the primary lease (DESIGN §7 rule 3), over the keeper's own monotonic clock.
/// Ask with <see cref="Requesting"/> (noting t0 before sending); on a grant call <see cref="OnGranted"/> with that t0.
/// The lease lasts until <c>t0 + leaseTimeout</c>; fencing must start at <see cref="FenceAt"/> = that minus the fence margin.
/// Immutable: every call returns the next holder.
/// </summary>
internal sealed record LeaseHolder(
    TimeSpan LeaseTimeout,
    TimeSpan FenceMargin,
    long Generation,
    TimeSpan? ExpiresAt,
    TimeSpan? PendingRequestAt)
{
    public static LeaseHolder None(TimeSpan leaseTimeout, TimeSpan fenceMargin)
    {
        if (leaseTimeout <= TimeSpan.Zero || fenceMargin < TimeSpan.Zero || fenceMargin >= leaseTimeout)
        {
            throw new ArgumentOutOfRangeException(nameof(fenceMargin), "the fence margin must be at least 0 and shorter than the lease timeout");
        }

        return new(leaseTimeout, fenceMargin, 0, null, null);
    }

    /// <summary>When fencing must begin (the proxy stops forwarding, PostgreSQL is stopped); null without a lease.</summary>
    public TimeSpan? FenceAt => ExpiresAt - FenceMargin;

    /// <summary>
    /// Renew every leaseTimeout / 8 (DESIGN says / 4). A Raft leader lost on a standby is replaced 0.5–1 s after its
    /// last heartbeat; with / 4 the last grant could be 375 ms older than the loss, and the primary was fenced before the
    /// new leader could renew in 1 of 12 Jepsen-style faults on the Raft leader. A request costs one HTTP call and one
    /// ReadIndex round.
    /// </summary>
    public TimeSpan RenewInterval => LeaseTimeout / 8;

    /// <summary>How long one renewal may wait for the leader's answer: leaseTimeout / 4.</summary>
    public TimeSpan RequestTimeout => LeaseTimeout / 4;

    /// <summary>May PostgreSQL accept writes for <paramref name="generation"/> at <paramref name="now"/>?</summary>
    public bool IsValid(TimeSpan now, long generation) =>
        generation == Generation && FenceAt is { } fenceAt && now < fenceAt;

    public bool MustFence(TimeSpan now, long generation) => !IsValid(now, generation);

    /// <summary>True when a renewal should be sent now.</summary>
    public bool ShouldRenew(TimeSpan now) =>
        PendingRequestAt is not { } pending || now - pending >= RenewInterval;

    public LeaseHolder Requesting(TimeSpan t0) => this with { PendingRequestAt = t0 };

    /// <summary>
    /// The last request got no grant (the leader changed, was unreachable or refused): the next renewal may go at once
    /// rather than a renew interval after it. The lease itself is untouched.
    /// </summary>
    public LeaseHolder RenewNow() => this with { PendingRequestAt = null };

    /// <summary>
    /// A grant for a request sent at <paramref name="t0"/>. Never shortens a lease of the same generation;
    /// a grant for an older generation than the one held is ignored; a newer generation replaces the lease.
    /// </summary>
    public LeaseHolder OnGranted(TimeSpan t0, long generation)
    {
        var expires = t0 + LeaseTimeout;
        if (generation < Generation)
        {
            return this;
        }

        if (generation == Generation && ExpiresAt is { } current && current >= expires)
        {
            return this;
        }

        return this with { Generation = generation, ExpiresAt = expires };
    }

    /// <summary>Drops the lease (after a refusal, a demotion, or a switchover stop).</summary>
    public LeaseHolder Released() => this with { ExpiresAt = null };
}

using System.Collections.Immutable;

namespace PgRaft.Node.Lease;

/// <summary>
/// The Raft leader's record of its last lease grant to each node (its own monotonic clock), and when its term began.
/// A new leader starts a new table: it cannot know what an earlier leader granted (DESIGN §7 rule 4).
/// </summary>
internal sealed record LeaseTable(TimeSpan TermStartedAt, ImmutableSortedDictionary<string, TimeSpan> LastGrant)
{
    public static LeaseTable StartTerm(TimeSpan now) =>
        new(now, ImmutableSortedDictionary.Create<string, TimeSpan>(StringComparer.Ordinal));

    public LeaseTable WithGrant(string nodeId, TimeSpan now) =>
        this with { LastGrant = LastGrant.SetItem(nodeId, LastGrant.TryGetValue(nodeId, out var previous) && previous > now ? previous : now) };

    public TimeSpan? LastGrantTo(string nodeId) => LastGrant.TryGetValue(nodeId, out var at) ? at : null;

    /// <summary>The primary the view named when this leader last looked, and since when (on this leader's clock).</summary>
    public (string NodeId, TimeSpan Since)? NamedPrimary { get; init; }

    public LeaseTable WithNamedPrimary(string? primary, TimeSpan now) =>
        primary is null || NamedPrimary?.NodeId == primary ? this : this with { NamedPrimary = (primary, now) };

    /// <summary>Since when (this leader's clock) the view has named <paramref name="nodeId"/> primary, if it does.</summary>
    public TimeSpan? NamedSince(string nodeId) => NamedPrimary is { } named && named.NodeId == nodeId ? named.Since : null;

    /// <summary>
    /// The earliest moment at which no lease <paramref name="nodeId"/> got from this leader, or from any earlier leader,
    /// can still be valid: leaseTimeout plus the drift margin after both the last grant and the start of this term.
    /// </summary>
    public TimeSpan ExpiredAt(string nodeId, TimeSpan leaseTimeout, TimeSpan driftMargin)
    {
        var from = LastGrantTo(nodeId) is { } grant && grant > TermStartedAt ? grant : TermStartedAt;
        return from + leaseTimeout + driftMargin;
    }
}

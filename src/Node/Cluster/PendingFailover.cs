namespace PgRaft.Node.Cluster;

/// <summary>
/// An operator asked to replace the primary <see cref="From"/> of generation <see cref="Generation"/> now, with
/// <see cref="To"/> (null: the best standby), without waiting for failTimeout and even while paused. The sentinel
/// stops granting <see cref="From"/> leases, waits until its last one ran out and then promotes by the rules of an
/// automatic failover, so no acknowledged commit is lost in the sync modes; it cancels the request (and says why)
/// when nobody may take over.
/// </summary>
internal sealed record PendingFailover(string From, string? To, long Generation, DateTimeOffset RequestedAt);

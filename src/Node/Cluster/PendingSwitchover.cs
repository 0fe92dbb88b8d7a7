namespace PgRaft.Node.Cluster;

internal enum SwitchoverPhase
{
    /// <summary>The old primary's keeper must stop PostgreSQL (no more writes) and report its final WAL position; no lease renewals.</summary>
    Draining = 0,

    /// <summary>The old primary stopped at <see cref="PendingSwitchover.FinalLsn"/>; waiting for the target to reach it.</summary>
    CatchingUp = 1,
}

/// <summary>
/// A planned switchover in progress. The new view is committed only once a target has received everything the old
/// primary wrote before it stopped, so nothing is lost in any mode.
/// </summary>
internal sealed record PendingSwitchover(
    string From,
    string? To,
    long Generation,
    SwitchoverPhase Phase,
    Lsn? FinalLsn,
    int? Timeline,
    DateTimeOffset RequestedAt,
    DateTimeOffset? StoppedAt = null);

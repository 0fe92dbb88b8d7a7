using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Keeper;

/// <summary>
/// What a keeper knows of its own PostgreSQL at one instant: from a probe while it runs, from the data directory
/// (control file, standby.signal) while it does not. Real and simulated PostgreSQL both map to this.
/// <see cref="PendingRestart"/> names the changed parameters that take effect only at the next start.
/// <see cref="TimelineFork"/> is where <see cref="Timeline"/> forked from its parent (the last line of its history file;
/// null on timeline 1 or when unknown); <see cref="Streaming"/> is true while a standby's WAL receiver streams
/// (pg_stat_wal_receiver.status = 'streaming').
/// </summary>
internal sealed record LocalPostgres(
    bool Initialized,
    bool Running,
    PgRole Role,
    ulong? SystemIdentifier,
    int Timeline,
    Lsn? Position,
    string? Upstream,
    string SynchronousStandbyNames,
    string PendingRestart = "",
    Lsn? TimelineFork = null,
    bool Streaming = false)
{
    public static LocalPostgres Missing { get; } = new(false, false, PgRole.Uninitialized, null, 0, null, null, "");
}

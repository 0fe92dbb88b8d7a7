using PgRaft.PgControl.Wal;

namespace PgRaft.PgControl.Instance;

internal enum ServerRole
{
    Primary,
    Standby,
}

internal enum StopMode
{
    /// <summary>Waits for clients to disconnect (SIGTERM), escalating to fast, then immediate.</summary>
    Smart,

    /// <summary>Rolls back open transactions and shuts down cleanly (SIGINT), escalating to immediate.</summary>
    Fast,

    /// <summary>Stops at once without a checkpoint (SIGQUIT), then SIGKILL.</summary>
    Immediate,
}

/// <summary>One row of pg_stat_replication on a primary.</summary>
internal sealed record ReplicationClient(
    string ApplicationName,
    string? ClientAddress,
    string State,
    string SyncState,
    Lsn? SentLsn,
    Lsn? FlushLsn,
    Lsn? ReplayLsn);

/// <summary>A physical replication slot.</summary>
internal sealed record ReplicationSlot(string Name, bool Active, Lsn? RestartLsn);

/// <summary>What one probe of the local server found.</summary>
/// <param name="Running">The postmaster process is alive.</param>
/// <param name="Accepting">A connection succeeded and the queries below answered.</param>
/// <param name="TimelineFork">Where <paramref name="Timeline"/> forked from its parent (the last switch point in its
/// pg_wal history file); null on timeline 1, or when the file is missing or unreadable.</param>
/// <param name="WalReceiverStatus">pg_stat_wal_receiver.status ('streaming' while a standby streams); null without a WAL receiver.</param>
internal sealed record PostgresStatus(
    bool Running,
    bool Accepting,
    int? PostmasterPid,
    bool? InRecovery,
    ulong? SystemIdentifier,
    int? Timeline,
    Lsn? FlushLsn,
    Lsn? ReceiveLsn,
    Lsn? ReplayLsn,
    string? Upstream,
    string? SynchronousStandbyNames,
    IReadOnlyList<ReplicationClient> Replication,
    IReadOnlyList<string> PendingRestart,
    string? Error,
    Lsn? TimelineFork = null,
    string? WalReceiverStatus = null)
{
    public bool Streaming => WalReceiverStatus == "streaming";

    public static PostgresStatus Stopped(string? error = null) =>
        new(false, false, null, null, null, null, null, null, null, null, null, [], [], error);
}

using PgRaft.Node.Cluster;

namespace PgRaft.Node.Keeper;

/// <summary>One step a keeper takes toward the committed view. The planner picks one per round; the executor does it.</summary>
internal abstract record KeeperAction(string Reason)
{
    public sealed override string ToString() => $"{GetType().Name}: {Reason}";
}

/// <summary>Nothing to do now (converged, or waiting for something outside this node).</summary>
internal sealed record WaitAction(string Reason) : KeeperAction(Reason);

/// <summary>initdb a new cluster (this node is the bootstrap primary).</summary>
internal sealed record InitializeAction(string Reason) : KeeperAction(Reason);

/// <summary>
/// pg_basebackup from <paramref name="Upstream"/> (the data directory is empty, or must be replaced; a running standby is
/// stopped first). <paramref name="OperationId"/>: the operator's reinit this carries out, if any.
/// </summary>
internal sealed record CloneAction(string Upstream, string Reason, long? OperationId = null) : KeeperAction(Reason);

/// <summary>Start the stopped PostgreSQL as a primary (needs a valid lease).</summary>
internal sealed record StartPrimaryAction(string Reason) : KeeperAction(Reason);

/// <summary>Start the stopped PostgreSQL as a standby of <paramref name="Upstream"/> (null: replay local WAL only, before a promotion).</summary>
internal sealed record StartStandbyAction(string? Upstream, string Reason) : KeeperAction(Reason);

/// <summary>Promote the running standby (needs a valid lease).</summary>
internal sealed record PromoteAction(string Reason) : KeeperAction(Reason);

/// <summary>Point the running standby at another upstream.</summary>
internal sealed record FollowAction(string Upstream, string Reason) : KeeperAction(Reason);

/// <summary>Stop PostgreSQL at once (immediate shutdown): it must not take writes.</summary>
internal sealed record FenceAction(string Reason) : KeeperAction(Reason);

/// <summary>
/// The stopped node's WAL diverged or may have (a former primary, a forked standby): pg_rewind from <paramref name="Source"/>,
/// or re-clone when rewind cannot help, then it starts as a standby.
/// </summary>
internal sealed record RewindAction(string Source, string Reason) : KeeperAction(Reason);

/// <summary>Write synchronous_standby_names on the primary.</summary>
internal sealed record ApplySyncAction(SyncConfig Sync, string Reason) : KeeperAction(Reason);

/// <summary>A planned switchover: stop this primary cleanly (no writes lost) and report its final position.</summary>
internal sealed record StopForSwitchoverAction(long Generation, string Reason) : KeeperAction(Reason);

/// <summary>
/// Restart the running PostgreSQL in its current role: a standby so that parameters read only at start take effect, or
/// any node for the operator's restart <paramref name="OperationId"/> (a primary keeps its lease and stays primary).
/// </summary>
internal sealed record RestartAction(long? OperationId, string Reason) : KeeperAction(Reason);

/// <summary>Records how the operator's operation <paramref name="OperationId"/> ended without touching PostgreSQL (nothing to do, or it cannot be done).</summary>
internal sealed record EndOperationAction(long OperationId, bool Succeeded, string Reason) : KeeperAction(Reason);

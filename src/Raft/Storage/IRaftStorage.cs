using PgRaft.Raft.Core;

namespace PgRaft.Raft.Storage;

/// <summary>What a node finds on disk when it starts.</summary>
/// <param name="HardState">Term, vote and commit as last fsynced.</param>
/// <param name="Snapshot">The newest complete snapshot; a fresh node has the bootstrap snapshot (index 0, initial membership, empty data).</param>
/// <param name="Entries">The log after the snapshot's index, contiguous.</param>
public sealed record PersistedState(HardState HardState, Snapshot? Snapshot, IReadOnlyList<LogEntry> Entries);

/// <summary>
/// Durable Raft state. Every method returns only after its data is fsynced.
/// </summary>
public interface IRaftStorage : IDisposable
{
    /// <summary>Reads what was durable. Truncates a torn tail (logged); throws <see cref="RaftStorageCorruptedException"/> for corruption anywhere else.</summary>
    PersistedState Load();

    /// <summary>
    /// Persists one Ready's worth: <paramref name="snapshot"/> first (as <see cref="InstallSnapshot"/>), then
    /// <paramref name="entries"/> (the first entry's index may be at or below the last stored index: the stored
    /// suffix from there is replaced), then <paramref name="hardState"/>. One fsync covers it all.
    /// </summary>
    void Persist(Snapshot? snapshot, IReadOnlyList<LogEntry> entries, HardState? hardState);

    /// <summary>
    /// Saves a snapshot atomically (temp file, fsync, rename, fsync directory). If the log holds an entry at the
    /// snapshot's index with the snapshot's term, entries after it are kept; otherwise the whole log is discarded.
    /// Entries at or below the index are dropped (whole segments deleted once wholly covered).
    /// </summary>
    void InstallSnapshot(Snapshot snapshot);
}

/// <summary>Stored Raft data is damaged somewhere other than a torn tail: refusing to start rather than lose committed entries.</summary>
public sealed class RaftStorageCorruptedException(string message) : Exception(message);

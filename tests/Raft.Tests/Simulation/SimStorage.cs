using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;

namespace PgRaft.Raft.Tests.Simulation;

/// <summary>In-memory durable storage with the <see cref="IRaftStorage"/> semantics: what is here survives a crash.</summary>
internal sealed class SimStorage : IRaftStorage
{
    private readonly List<LogEntry> entries = [];

    public SimStorage(Snapshot? bootstrap)
    {
        Snapshot = bootstrap;
    }

    public HardState HardState { get; private set; } = HardState.Empty;

    public Snapshot? Snapshot { get; private set; }

    public long SnapshotIndex => Snapshot?.Metadata.Index ?? 0;

    public long LastIndex => SnapshotIndex + entries.Count;

    /// <summary>Called with (old, new) before a hard state is stored; throws to report a violation.</summary>
    public Action<HardState, HardState>? OnHardState { get; set; }

    public PersistedState Load() => new(HardState, Snapshot, entries.ToList());

    /// <summary>Term of the durable entry at <paramref name="index"/>; -1 if absent (a snapshot covers only its own index's term).</summary>
    public long TermAt(long index)
    {
        if (Snapshot is not null && index == SnapshotIndex)
        {
            return Snapshot.Metadata.Term;
        }

        if (index <= SnapshotIndex || index > LastIndex)
        {
            return -1;
        }

        return entries[(int)(index - SnapshotIndex - 1)].Term;
    }

    /// <summary>True when the entry (index, term) is durable here, or a durable snapshot covers it.</summary>
    public bool Holds(long index, long term) => (Snapshot is not null && index <= SnapshotIndex) || TermAt(index) == term;

    public void Persist(Snapshot? snapshot, IReadOnlyList<LogEntry> newEntries, HardState? hardState)
    {
        if (snapshot is not null)
        {
            InstallSnapshot(snapshot);
        }

        if (newEntries.Count > 0)
        {
            var first = newEntries[0].Index;
            if (first <= SnapshotIndex || first > LastIndex + 1)
            {
                throw new InvalidOperationException($"Persist got entries from {first}, storage holds ({SnapshotIndex}, {LastIndex}]");
            }

            entries.RemoveRange((int)(first - SnapshotIndex - 1), (int)(LastIndex - first + 1));
            entries.AddRange(newEntries);
        }

        if (hardState is { } hs)
        {
            OnHardState?.Invoke(HardState, hs);
            HardState = hs;
        }
    }

    public void InstallSnapshot(Snapshot snapshot)
    {
        var index = snapshot.Metadata.Index;
        if (Snapshot is not null && index <= SnapshotIndex && Snapshot.Metadata.Term == snapshot.Metadata.Term && index == SnapshotIndex)
        {
            return;
        }

        if (TermAt(index) == snapshot.Metadata.Term && index > SnapshotIndex)
        {
            entries.RemoveRange(0, (int)(index - SnapshotIndex));
        }
        else
        {
            entries.Clear();
        }

        Snapshot = snapshot;
    }

    public void Dispose()
    {
    }
}

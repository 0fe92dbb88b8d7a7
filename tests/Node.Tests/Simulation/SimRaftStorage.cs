using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;

namespace PgRaft.Node.Tests.Simulation;

/// <summary>A node's durable Raft state: what is here survives a crash of its pgraft.</summary>
internal sealed class SimRaftStorage(Snapshot bootstrap)
{
    private readonly List<LogEntry> _entries = [];
    private HardState _hardState = HardState.Empty;

    public PersistedState Load() => new(_hardState, bootstrap, [.. _entries]);

    public void Persist(IReadOnlyList<LogEntry> newEntries, HardState? hardState)
    {
        if (newEntries.Count > 0)
        {
            var first = newEntries[0].Index;
            if (first < 1 || first > _entries.Count + 1)
            {
                throw new InvalidOperationException($"persist got entries from {first}, storage holds 1..{_entries.Count}");
            }

            _entries.RemoveRange((int)(first - 1), _entries.Count - (int)(first - 1));
            _entries.AddRange(newEntries);
        }

        if (hardState is { } hs)
        {
            _hardState = hs;
        }
    }
}

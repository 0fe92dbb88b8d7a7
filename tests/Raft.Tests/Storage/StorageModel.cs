using System.Collections.Immutable;
using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;

namespace PgRaft.Raft.Tests.Storage;

/// <summary>The durable state as the interface documents it, computed the obvious way in memory.</summary>
internal sealed record StorageModel(HardState HardState, Snapshot? Snapshot, ImmutableList<LogEntry> Entries)
{
    public static StorageModel Empty { get; } = new(HardState.Empty, null, []);

    public long SnapshotIndex => Snapshot?.Metadata.Index ?? 0;

    public long LastIndex => SnapshotIndex + Entries.Count;

    public long? TermAt(long index)
    {
        if (index == SnapshotIndex)
        {
            return Snapshot?.Metadata.Term ?? 0;
        }

        return index > SnapshotIndex && index <= LastIndex ? Entries[(int)(index - SnapshotIndex - 1)].Term : null;
    }

    public StorageModel Install(Snapshot snapshot)
    {
        var keep = TermAt(snapshot.Metadata.Index) == snapshot.Metadata.Term;
        return this with
        {
            Snapshot = snapshot,
            Entries = keep ? Entries.RemoveAll(e => e.Index <= snapshot.Metadata.Index) : [],
        };
    }

    public StorageModel Append(IEnumerable<LogEntry> entries)
    {
        var result = Entries;
        foreach (var entry in entries)
        {
            result = result.RemoveRange((int)(entry.Index - SnapshotIndex - 1), result.Count - (int)(entry.Index - SnapshotIndex - 1)).Add(entry);
        }

        return this with { Entries = result };
    }

    public StorageModel With(HardState hardState) => this with { HardState = hardState };

    /// <summary>Every state a crash during this Persist may leave: a prefix of snapshot, entries one by one, hard state.</summary>
    public IReadOnlyList<StorageModel> StatesDuringPersist(Snapshot? snapshot, IReadOnlyList<LogEntry> entries, HardState? hardState)
    {
        var states = new List<StorageModel> { this };
        var state = this;
        if (snapshot is not null)
        {
            state = state.Install(snapshot);
            states.Add(state);
        }

        for (var i = 0; i < entries.Count; i++)
        {
            state = state.Append([entries[i]]);
            states.Add(state);
        }

        if (hardState is { } hs)
        {
            states.Add(state.With(hs));
        }

        return states;
    }

    public bool Matches(PersistedState loaded) =>
        loaded.HardState == HardState
        && SnapshotsEqual(loaded.Snapshot, Snapshot)
        && loaded.Entries.SequenceEqual(Entries);

    public static StorageModel From(PersistedState loaded) => new(loaded.HardState, loaded.Snapshot, [.. loaded.Entries]);

    public override string ToString() =>
        $"hs=({HardState.Term},{HardState.VotedFor ?? "-"},{HardState.Commit}) snap={(Snapshot is null ? "none" : $"{Snapshot.Metadata.Index}@{Snapshot.Metadata.Term}")} " +
        $"log=[{string.Join(",", Entries.Select(e => $"{e.Index}@{e.Term}"))}]";

    public static string Describe(PersistedState loaded) => From(loaded).ToString();

    private static bool SnapshotsEqual(Snapshot? a, Snapshot? b) =>
        (a is null && b is null)
        || (a is not null && b is not null
            && a.Metadata.Index == b.Metadata.Index && a.Metadata.Term == b.Metadata.Term
            && a.Metadata.Membership.Equals(b.Metadata.Membership)
            && a.Data.Span.SequenceEqual(b.Data.Span));
}

using System.Collections.Immutable;

namespace PgRaft.Raft.Core;

/// <summary>
/// The in-memory log of one node: the newest snapshot's position, the entries after it, what is durable,
/// what is committed, and the membership in effect at every configuration entry (a configuration takes
/// effect as soon as its entry is in the log, as in the Raft thesis; a truncation reverts it).
/// </summary>
internal sealed class RaftLog
{
    private static readonly Membership EmptyMembership = new(
        ImmutableSortedSet.Create<string>(StringComparer.Ordinal), ImmutableSortedSet.Create<string>(StringComparer.Ordinal));

    private readonly List<LogEntry> entries = [];

    /// <summary>(index where it takes effect, membership); the first item is the snapshot's.</summary>
    private readonly List<(long Index, Membership Membership)> configs = [];

    public RaftLog(Snapshot? snapshot, IReadOnlyList<LogEntry> restoredEntries, long commit)
    {
        Snapshot = snapshot;
        SnapshotIndex = snapshot?.Metadata.Index ?? 0;
        SnapshotTerm = snapshot?.Metadata.Term ?? 0;
        configs.Add((SnapshotIndex, snapshot?.Metadata.Membership ?? EmptyMembership));
        if (snapshot is null && restoredEntries.Count > 0)
        {
            throw new ArgumentException("Restored state has log entries but no snapshot; a node's log always starts from a snapshot (the bootstrap snapshot for a new cluster).", nameof(restoredEntries));
        }

        var expected = SnapshotIndex + 1;
        var lastTerm = SnapshotTerm;
        foreach (var entry in restoredEntries)
        {
            if (entry.Index <= SnapshotIndex)
            {
                continue;
            }

            if (entry.Index != expected)
            {
                throw new ArgumentException($"Restored log is not contiguous: expected entry {expected} after the snapshot at {SnapshotIndex}, found {entry.Index}.", nameof(restoredEntries));
            }

            if (entry.Term < lastTerm)
            {
                throw new ArgumentException($"Restored log entry {entry.Index} has term {entry.Term}, below the previous entry's term {lastTerm}.", nameof(restoredEntries));
            }

            AppendOne(entry);
            lastTerm = entry.Term;
            expected++;
        }

        UnstableFrom = LastIndex + 1;
        Committed = Math.Clamp(commit, SnapshotIndex, LastIndex);
    }

    /// <summary>The newest snapshot this node holds (null: never initialised).</summary>
    public Snapshot? Snapshot { get; private set; }

    /// <summary>A snapshot received from the leader that the host has not persisted yet.</summary>
    public Snapshot? PendingSnapshot { get; private set; }

    public bool Initialised => Snapshot is not null;

    public long SnapshotIndex { get; private set; }

    public long SnapshotTerm { get; private set; }

    public long Committed { get; private set; }

    /// <summary>First index that the host has not persisted (entries before it are durable).</summary>
    public long UnstableFrom { get; private set; }

    public long DurableLastIndex => Math.Min(UnstableFrom - 1, LastIndex);

    public long FirstIndex => SnapshotIndex + 1;

    public long LastIndex => SnapshotIndex + entries.Count;

    public long LastTerm => entries.Count == 0 ? SnapshotTerm : entries[^1].Term;

    public Membership Membership => configs[^1].Membership;

    /// <summary>Index of the newest configuration entry in the log (the snapshot's index when none).</summary>
    public long LastConfigIndex => configs[^1].Index;

    /// <summary>Lowest index whose entry changed since the last <see cref="TakeChangedFrom"/> (test checkers use it).</summary>
    private long changedFrom = 1;

    /// <summary>Term of the entry at <paramref name="index"/>; -1 when compacted away or beyond the end.</summary>
    public long TermAt(long index)
    {
        if (index == SnapshotIndex)
        {
            return SnapshotTerm;
        }

        if (index < SnapshotIndex || index > LastIndex)
        {
            return -1;
        }

        return entries[(int)(index - SnapshotIndex - 1)].Term;
    }

    public LogEntry EntryAt(long index) => entries[(int)(index - SnapshotIndex - 1)];

    public bool MatchTerm(long index, long term) => TermAt(index) == term && term >= 0;

    public bool IsUpToDate(long lastIndex, long lastTerm) => lastTerm > LastTerm || (lastTerm == LastTerm && lastIndex >= LastIndex);

    /// <summary>Entries [from, to] (both inclusive, within the log).</summary>
    public List<LogEntry> Slice(long from, long to)
    {
        if (from > to)
        {
            return [];
        }

        return entries.GetRange((int)(from - SnapshotIndex - 1), (int)(to - from + 1));
    }

    /// <summary>Largest index at or below <paramref name="index"/> whose term is at most <paramref name="term"/> (fast back-off).</summary>
    public long FindConflictByTerm(long index, long term)
    {
        index = Math.Min(index, LastIndex);
        while (index > SnapshotIndex && TermAt(index) > term)
        {
            index--;
        }

        return Math.Max(index, SnapshotIndex);
    }

    public void Append(LogEntry entry)
    {
        AppendOne(entry);
    }

    /// <summary>
    /// Appends a leader's entries that follow a matching <paramref name="prevIndex"/>: entries already present with the
    /// same term are kept, the first conflicting one and everything after it is replaced. Returns false (and changes
    /// nothing) when that would rewrite a committed entry.
    /// </summary>
    public bool MaybeAppend(IReadOnlyList<LogEntry> newEntries)
    {
        var k = 0;
        while (k < newEntries.Count)
        {
            var e = newEntries[k];
            if (e.Index <= SnapshotIndex)
            {
                k++;
                continue;
            }

            if (TermAt(e.Index) != e.Term)
            {
                break;
            }

            k++;
        }

        if (k == newEntries.Count)
        {
            return true;
        }

        var conflictIndex = newEntries[k].Index;
        if (conflictIndex <= Committed)
        {
            return false;
        }

        TruncateFrom(conflictIndex);
        for (; k < newEntries.Count; k++)
        {
            AppendOne(newEntries[k]);
        }

        return true;
    }

    public void CommitTo(long index)
    {
        if (index > Committed)
        {
            Committed = Math.Min(index, LastIndex);
        }
    }

    /// <summary>The host persisted entries up to (index, term).</summary>
    public void StableTo(long index, long term)
    {
        if (index > SnapshotIndex && index >= UnstableFrom && TermAt(index) == term)
        {
            UnstableFrom = index + 1;
        }
    }

    public void SnapshotPersisted(Snapshot snapshot)
    {
        if (ReferenceEquals(PendingSnapshot, snapshot))
        {
            PendingSnapshot = null;
        }
    }

    public List<LogEntry> UnstableEntries() => UnstableFrom > LastIndex ? [] : Slice(Math.Max(UnstableFrom, FirstIndex), LastIndex);

    /// <summary>Replaces the whole log with a snapshot received from the leader (to be persisted by the host).</summary>
    public void Restore(Snapshot snapshot)
    {
        entries.Clear();
        Snapshot = snapshot;
        PendingSnapshot = snapshot;
        SnapshotIndex = snapshot.Metadata.Index;
        SnapshotTerm = snapshot.Metadata.Term;
        Committed = SnapshotIndex;
        UnstableFrom = SnapshotIndex + 1;
        configs.Clear();
        configs.Add((SnapshotIndex, snapshot.Metadata.Membership));
        changedFrom = Math.Min(changedFrom, 0);
    }

    /// <summary>Membership in effect once the entry at <paramref name="index"/> is in the log.</summary>
    public Membership MembershipAt(long index)
    {
        for (var i = configs.Count - 1; i >= 0; i--)
        {
            if (configs[i].Index <= index)
            {
                return configs[i].Membership;
            }
        }

        return configs[0].Membership;
    }

    /// <summary>Drops entries up to <paramref name="snapshot"/>'s index, which the host's state machine covers.</summary>
    public void CompactTo(Snapshot snapshot)
    {
        var index = snapshot.Metadata.Index;
        var baseMembership = MembershipAt(index);
        entries.RemoveRange(0, (int)(index - SnapshotIndex));
        SnapshotIndex = index;
        SnapshotTerm = snapshot.Metadata.Term;
        Snapshot = snapshot;
        configs.RemoveAll(c => c.Index <= index);
        configs.Insert(0, (index, baseMembership));
    }

    /// <summary>Returns the lowest index changed since the previous call and resets it (for test checkers).</summary>
    internal long TakeChangedFrom()
    {
        var result = changedFrom;
        changedFrom = LastIndex + 1;
        return result;
    }

    private void TruncateFrom(long index)
    {
        entries.RemoveRange((int)(index - SnapshotIndex - 1), (int)(LastIndex - index + 1));
        configs.RemoveAll(c => c.Index >= index && c.Index > SnapshotIndex);
        UnstableFrom = Math.Min(UnstableFrom, index);
        changedFrom = Math.Min(changedFrom, index);
    }

    private void AppendOne(LogEntry entry)
    {
        entries.Add(entry);
        changedFrom = Math.Min(changedFrom, entry.Index);
        if (entry.Kind == EntryKind.ConfigChange && ConfigChangeCodec.TryDecode(entry.Data.Span, out var change))
        {
            var next = ConfigChangeCodec.Apply(Membership, change);
            if (next is not null)
            {
                configs.Add((entry.Index, next));
            }
        }
    }
}

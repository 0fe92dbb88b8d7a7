using System.Collections.Immutable;

namespace PgRaft.Raft.Core;

/// <summary>What a log entry carries.</summary>
public enum EntryKind : byte
{
    /// <summary>A state-machine command (may be empty: a new leader's no-op).</summary>
    Command = 0,

    /// <summary>A membership change; <see cref="LogEntry.Data"/> holds an encoded <see cref="ConfigChange"/>.</summary>
    ConfigChange = 1,
}

/// <summary>One entry of the replicated log.</summary>
public sealed record LogEntry(long Index, long Term, EntryKind Kind, ReadOnlyMemory<byte> Data)
{
    public bool Equals(LogEntry? other) =>
        other is not null && Index == other.Index && Term == other.Term && Kind == other.Kind && Data.Span.SequenceEqual(other.Data.Span);

    public override int GetHashCode() => HashCode.Combine(Index, Term, Kind, Data.Length);
}

/// <summary>The state that must be durable before any message depending on it is sent.</summary>
public readonly record struct HardState(long Term, string? VotedFor, long Commit)
{
    public static HardState Empty => new(0, null, 0);
}

/// <summary>Voters and learners (non-voting members that receive the log).</summary>
public sealed record Membership(ImmutableSortedSet<string> Voters, ImmutableSortedSet<string> Learners)
{
    public static Membership Of(params string[] voters) =>
        new(voters.ToImmutableSortedSet(StringComparer.Ordinal), ImmutableSortedSet.Create<string>(StringComparer.Ordinal));

    public bool Contains(string id) => Voters.Contains(id) || Learners.Contains(id);

    public IEnumerable<string> All => Voters.Concat(Learners);

    public bool Equals(Membership? other) =>
        other is not null && Voters.SetEquals(other.Voters) && Learners.SetEquals(other.Learners);

    public override int GetHashCode() => HashCode.Combine(Voters.Count, Learners.Count);
}

public enum ConfigChangeKind : byte
{
    /// <summary>Add a node as a learner (it catches up without voting).</summary>
    AddLearner = 0,

    /// <summary>Promote a caught-up learner to voter.</summary>
    PromoteLearner = 1,

    /// <summary>Remove a voter or a learner (the leader itself included).</summary>
    Remove = 2,
}

/// <summary>A single-server membership change.</summary>
public readonly record struct ConfigChange(ConfigChangeKind Kind, string NodeId);

public sealed record SnapshotMetadata(long Index, long Term, Membership Membership);

/// <summary>A state-machine snapshot covering the log up to and including <see cref="SnapshotMetadata.Index"/>.</summary>
public sealed record Snapshot(SnapshotMetadata Metadata, ReadOnlyMemory<byte> Data);

public enum RaftRole : byte
{
    Follower = 0,
    PreCandidate = 1,
    Candidate = 2,
    Leader = 3,
}

public enum MessageType : byte
{
    PreVote = 1,
    PreVoteResponse = 2,
    Vote = 3,
    VoteResponse = 4,
    Append = 5,
    AppendResponse = 6,
    Heartbeat = 7,
    HeartbeatResponse = 8,
    InstallSnapshot = 9,
    InstallSnapshotResponse = 10,
    TimeoutNow = 11,
    ReadIndex = 12,
    ReadIndexResponse = 13,
}

/// <summary>
/// One message between peers (etcd-raft style: one shape, fields used by type).
/// Term is the sender's term (for PreVote: the term it would campaign in).
/// Append: Index/LogTerm = the entry preceding Entries; Commit = leader's commit.
/// AppendResponse: Index = highest matching index on success; on Reject, RejectHint = a hint
/// index for fast back-off and LogTerm = the follower's term at RejectHint.
/// ReadIndex/Heartbeat/HeartbeatResponse/ReadIndexResponse: Context identifies a read request.
/// </summary>
public sealed record RaftMessage
{
    public required MessageType Type { get; init; }
    public required string From { get; init; }
    public required string To { get; init; }
    public long Term { get; init; }
    public long LogTerm { get; init; }
    public long Index { get; init; }
    public long Commit { get; init; }
    public bool Reject { get; init; }
    public long RejectHint { get; init; }
    public IReadOnlyList<LogEntry> Entries { get; init; } = [];
    public Snapshot? Snapshot { get; init; }
    public ReadOnlyMemory<byte> Context { get; init; }
}

/// <summary>A linearizable read point: once <see cref="Index"/> is applied locally, a read for <see cref="Context"/> is safe.</summary>
public readonly record struct ReadState(long Index, ReadOnlyMemory<byte> Context);

/// <summary>Volatile state that observers care about.</summary>
public readonly record struct SoftState(RaftRole Role, long Term, string? Leader);

/// <summary>
/// The work the core hands back. The host must, in this order:
/// 1. persist <see cref="Snapshot"/> (if any), then <see cref="EntriesToPersist"/> (truncating any
///    conflicting suffix from the first entry's index) and <see cref="HardState"/> (if any), and fsync;
/// 2. send <see cref="Messages"/>;
/// 3. restore <see cref="Snapshot"/> into the state machine (if any), then apply <see cref="CommittedEntries"/> in order;
/// 4. call <c>Advance(ready)</c> on the core.
/// </summary>
public sealed record Ready
{
    public HardState? HardState { get; init; }
    public IReadOnlyList<LogEntry> EntriesToPersist { get; init; } = [];
    public Snapshot? Snapshot { get; init; }
    public IReadOnlyList<RaftMessage> Messages { get; init; } = [];
    public IReadOnlyList<LogEntry> CommittedEntries { get; init; } = [];
    public IReadOnlyList<ReadState> ReadStates { get; init; } = [];
    public SoftState? SoftState { get; init; }

    public bool IsEmpty =>
        HardState is null && EntriesToPersist.Count == 0 && Snapshot is null && Messages.Count == 0
        && CommittedEntries.Count == 0 && ReadStates.Count == 0 && SoftState is null;
}

/// <summary>Why a proposal was refused at once.</summary>
public enum ProposeResult : byte
{
    Accepted = 0,
    NotLeader = 1,
    TransferInProgress = 2,
    ConfigChangePending = 3,
    InvalidConfigChange = 4,
}

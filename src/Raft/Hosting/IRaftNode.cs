using PgRaft.Raft.Core;

namespace PgRaft.Raft.Hosting;

/// <summary>The surface of the Raft core that <see cref="RaftHost"/> drives (see <c>RaftCore</c>); a seam for the host's own tests.</summary>
internal interface IRaftNode
{
    SoftState SoftState { get; }

    Membership Membership { get; }

    long CommitIndex { get; }

    long AppliedIndex { get; }

    /// <summary>The newest snapshot the core holds (after <see cref="Compact"/>: the one just made).</summary>
    Snapshot? Snapshot { get; }

    /// <summary>On a leader, its view of every other member; empty otherwise.</summary>
    IReadOnlyList<FollowerStatus> Followers();

    void Tick();

    void Step(RaftMessage message);

    (ProposeResult Result, long Index, long Term) Propose(ReadOnlyMemory<byte> command);

    (ProposeResult Result, long Index, long Term) ProposeConfigChange(ConfigChange change);

    bool ReadIndex(ReadOnlyMemory<byte> context);

    bool TransferLeadership(string target);

    void Compact(long index, ReadOnlyMemory<byte> stateMachineSnapshot);

    bool HasReady();

    Ready GetReady();

    void Advance(Ready ready);
}

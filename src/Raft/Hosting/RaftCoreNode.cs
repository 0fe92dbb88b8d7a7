using PgRaft.Raft.Core;

namespace PgRaft.Raft.Hosting;

/// <summary>Binds <see cref="RaftCore"/> to the host's <see cref="IRaftNode"/> seam.</summary>
internal sealed class RaftCoreNode(RaftCore core) : IRaftNode
{
    public SoftState SoftState => core.SoftState;

    public Membership Membership => core.Membership;

    public long CommitIndex => core.CommitIndex;

    public long AppliedIndex => core.AppliedIndex;

    public Snapshot? Snapshot => core.Snapshot;

    public IReadOnlyList<FollowerStatus> Followers() => core.Followers();

    public void Tick() => core.Tick();

    public void Step(RaftMessage message) => core.Step(message);

    public (ProposeResult Result, long Index, long Term) Propose(ReadOnlyMemory<byte> command) => core.Propose(command);

    public (ProposeResult Result, long Index, long Term) ProposeConfigChange(ConfigChange change) => core.ProposeConfigChange(change);

    public bool ReadIndex(ReadOnlyMemory<byte> context) => core.ReadIndex(context);

    public bool TransferLeadership(string target) => core.TransferLeadership(target);

    public void Compact(long index, ReadOnlyMemory<byte> stateMachineSnapshot) => core.Compact(index, stateMachineSnapshot);

    public bool HasReady() => core.HasReady();

    public Ready GetReady() => core.GetReady();

    public void Advance(Ready ready) => core.Advance(ready);
}

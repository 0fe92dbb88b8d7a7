using PgRaft.Raft.Core;

namespace PgRaft.Raft.Tests.Simulation;

internal enum CrashPoint
{
    None,

    /// <summary>The next Ready is lost before it is persisted.</summary>
    BeforePersist,

    /// <summary>The next Ready is persisted, its messages and applies are lost.</summary>
    AfterPersist,
}

/// <summary>One simulated node: a core, its durable storage, its state machine, and a host loop that follows the Ready contract.</summary>
internal sealed class SimNode
{
    private readonly RaftCoreOptions options;
    private readonly Random random;
    private int incarnation;

    public SimNode(RaftCoreOptions options, SimStorage storage, Random random)
    {
        this.options = options;
        this.random = random;
        Storage = storage;
        Restart();
    }

    public string Id => options.Id;

    public SimStorage Storage { get; }

    public RaftCore? Core { get; private set; }

    public bool IsUp => Core is not null;

    public SimStateMachine StateMachine { get; private set; } = new();

    public CrashPoint PendingCrash { get; set; }

    /// <summary>Highest commit index seen on this incarnation (reset on restart).</summary>
    public long SeenCommit { get; set; }

    public int Incarnation => incarnation;

    public bool Retired { get; set; }

    /// <summary>Term in which this incarnation was last seen leading (-1: not leading); for the checker.</summary>
    public long LeaderTerm { get; set; } = -1;

    /// <summary>Highest commit index checked while leading (reset on restart).</summary>
    public long LeaderCommitSeen { get; set; }

    public void Crash()
    {
        Core = null;
        PendingCrash = CrashPoint.None;
    }

    public void Restart()
    {
        var state = Storage.Load();
        StateMachine = new SimStateMachine();
        if (state.Snapshot is not null)
        {
            StateMachine.Restore(state.Snapshot.Data.Span);
        }

        Core = new RaftCore(options, state, new Random(random.Next()));
        SeenCommit = Core.CommitIndex;
        LeaderTerm = -1;
        LeaderCommitSeen = Core.CommitIndex;
        incarnation++;
    }

    /// <summary>Drains Readys: persist, send, apply, advance (or crash at the pending crash point).</summary>
    public void ProcessReady(ISimHost host)
    {
        host.Observe(this);
        while (Core is { } core && core.HasReady())
        {
            var ready = core.GetReady();
            if (PendingCrash == CrashPoint.BeforePersist)
            {
                Crash();
                return;
            }

            Storage.Persist(ready.Snapshot, ready.EntriesToPersist, ready.HardState);
            if (PendingCrash == CrashPoint.AfterPersist)
            {
                Crash();
                return;
            }

            foreach (var message in ready.Messages)
            {
                host.Send(this, message);
            }

            if (ready.Snapshot is not null)
            {
                StateMachine.Restore(ready.Snapshot.Data.Span);
                if (StateMachine.AppliedIndex != ready.Snapshot.Metadata.Index)
                {
                    throw new SimulationFailureException(
                        $"{Id}: snapshot at index {ready.Snapshot.Metadata.Index} holds state machine index {StateMachine.AppliedIndex}");
                }

                host.OnSnapshotRestored(this, ready.Snapshot);
            }

            foreach (var entry in ready.CommittedEntries)
            {
                StateMachine.Apply(entry);
                host.OnApplied(this, entry);
            }

            foreach (var read in ready.ReadStates)
            {
                host.OnReadState(this, read);
            }

            core.Advance(ready);
            host.Observe(this);
        }
    }
}

internal interface ISimHost
{
    void Send(SimNode from, RaftMessage message);

    void OnApplied(SimNode node, LogEntry entry);

    void OnSnapshotRestored(SimNode node, Snapshot snapshot);

    void OnReadState(SimNode node, ReadState read);

    void Observe(SimNode node);
}

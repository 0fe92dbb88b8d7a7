using System.Buffers.Binary;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Tests.Simulation;

/// <summary>
/// Checks the Raft safety properties over a whole simulated cluster after every step, incrementally
/// (each log entry is examined once per append).
/// </summary>
internal sealed class SafetyChecker(IReadOnlyDictionary<string, SimNode> nodes)
{
    private readonly Dictionary<long, string> leaderOfTerm = [];
    private readonly Dictionary<(long Index, long Term), (long PrevTerm, ulong Hash)> entriesSeen = [];
    private readonly Dictionary<long, long> committedTerm = [];
    private readonly Dictionary<long, long> maxCommittedInTerm = [];
    private readonly Dictionary<long, ulong> appliedHash = new() { [0] = 0 };
    private readonly Dictionary<long, long> proposalIndexById = [];
    private readonly Dictionary<(string Node, long Index, long Term), Proposal> outstanding = [];
    private readonly Dictionary<long, long> readRequirements = [];

    public long MaxCommitEver { get; private set; }

    public long MaxLeaderCommitEver { get; private set; }

    public long MaxAckedIndex { get; private set; }

    public int Acknowledged { get; private set; }

    public int LeaderElections => leaderOfTerm.Count;

    public void OnProposed(string node, long id, long index, long term)
    {
        outstanding[(node, index, term)] = new Proposal(id, MaxAckedIndex);
    }

    /// <summary>True when (node, index, term) names a proposal that is now acknowledged (applied on its proposer).</summary>
    public bool IsAcknowledged(string node, long index, long term) => !outstanding.ContainsKey((node, index, term)) && ackedKeys.Contains((node, index, term));

    private readonly HashSet<(string, long, long)> ackedKeys = [];

    public void OnReadRequested(long readId) => readRequirements[readId] = MaxCommitEver;

    public void OnReadState(SimNode node, ReadState read)
    {
        if (read.Context.Length != 8)
        {
            throw new SimulationFailureException($"{node.Id}: read state with a context the host never used");
        }

        var id = BinaryPrimitives.ReadInt64LittleEndian(read.Context.Span);
        if (!readRequirements.Remove(id, out var required))
        {
            throw new SimulationFailureException($"{node.Id}: read state for unknown or already answered read {id}");
        }

        if (read.Index < required)
        {
            throw new SimulationFailureException(
                $"{node.Id}: stale read: read index {read.Index} is below {required}, committed somewhere before the read started");
        }
    }

    public void OnHardState(SimNode node, HardState before, HardState after)
    {
        if (after.Term < before.Term)
        {
            throw new SimulationFailureException($"{node.Id}: durable term went back from {before.Term} to {after.Term}");
        }

        if (after.Term == before.Term && before.VotedFor is not null && after.VotedFor != before.VotedFor)
        {
            throw new SimulationFailureException(
                $"{node.Id}: durable vote in term {after.Term} changed from {before.VotedFor} to {after.VotedFor ?? "nobody"}");
        }
    }

    public void OnSend(SimNode from, RaftMessage m)
    {
        var durable = from.Storage.HardState;
        if (m.Type is not (MessageType.PreVote or MessageType.PreVoteResponse) && m.Term > durable.Term)
        {
            throw new SimulationFailureException($"{from.Id}: sent {m.Type} at term {m.Term} before term {m.Term} was durable (durable {durable.Term})");
        }

        if (m.Type == MessageType.VoteResponse && !m.Reject && (durable.Term != m.Term || durable.VotedFor != m.To))
        {
            throw new SimulationFailureException($"{from.Id}: granted its vote in term {m.Term} to {m.To} before persisting it");
        }

        if (m.Type == MessageType.AppendResponse && !m.Reject && m.Index >= 0 && from.Core is { } core)
        {
            if (!from.Storage.Holds(m.Index, core.Log.TermAt(m.Index)))
            {
                throw new SimulationFailureException($"{from.Id}: acknowledged entries up to {m.Index} before persisting them");
            }
        }
    }

    public void OnApplied(SimNode node, LogEntry entry)
    {
        var hash = node.StateMachine.Hash;
        if (appliedHash.TryGetValue(entry.Index, out var expected))
        {
            if (expected != hash)
            {
                throw new SimulationFailureException(
                    $"{node.Id}: state machine diverged at index {entry.Index} (entry term {entry.Term}): another node applied a different sequence");
            }
        }
        else
        {
            appliedHash[entry.Index] = hash;
            if (entry.Kind == EntryKind.Command && entry.Data.Length == 8)
            {
                var id = BinaryPrimitives.ReadInt64LittleEndian(entry.Data.Span);
                if (!proposalIndexById.TryAdd(id, entry.Index))
                {
                    throw new SimulationFailureException($"proposal {id} applied twice: at {proposalIndexById[id]} and at {entry.Index}");
                }
            }
        }

        if (outstanding.Remove((node.Id, entry.Index, entry.Term), out var proposal))
        {
            if (entry.Kind != EntryKind.Command || entry.Data.Length != 8 || BinaryPrimitives.ReadInt64LittleEndian(entry.Data.Span) != proposal.Id)
            {
                throw new SimulationFailureException($"{node.Id}: the entry applied at its proposal's ({entry.Index}, {entry.Term}) is not proposal {proposal.Id}");
            }

            if (entry.Index <= proposal.MaxAckedAtPropose)
            {
                throw new SimulationFailureException(
                    $"{node.Id}: proposal {proposal.Id} applied at {entry.Index}, not after {proposal.MaxAckedAtPropose} acknowledged before it was proposed");
            }

            ackedKeys.Add((node.Id, entry.Index, entry.Term));
            MaxAckedIndex = Math.Max(MaxAckedIndex, entry.Index);
            Acknowledged++;
        }
    }

    public void OnSnapshotRestored(SimNode node, Snapshot snapshot)
    {
        var index = snapshot.Metadata.Index;
        if (appliedHash.TryGetValue(index, out var expected))
        {
            if (expected != node.StateMachine.Hash)
            {
                throw new SimulationFailureException($"{node.Id}: restored a snapshot at {index} whose state differs from what others applied");
            }
        }
        else
        {
            appliedHash[index] = node.StateMachine.Hash;
        }
    }

    /// <summary>Checks every node after one step of the simulation.</summary>
    public void CheckStep()
    {
        foreach (var node in nodes.Values)
        {
            if (node.Core is { } core)
            {
                CheckNode(node, core);
            }
        }
    }

    /// <summary>
    /// Called by the host loop whenever the core may have changed (before each Ready and after each Advance): a leader's
    /// commit index must be durable on a quorum of its voters the moment it rises.
    /// </summary>
    public void ObserveLeader(SimNode node)
    {
        if (node.Core is not { } core)
        {
            return;
        }

        var soft = core.SoftState;
        var justSteppedDown = soft.Role != RaftRole.Leader && soft.Leader is null && soft.Term == node.LeaderTerm;
        if (soft.Role != RaftRole.Leader && !justSteppedDown)
        {
            // What it learned as a follower was committed by someone else (checked when they did).
            node.LeaderTerm = -1;
            node.LeaderCommitSeen = core.CommitIndex;
            return;
        }

        node.LeaderTerm = soft.Role == RaftRole.Leader ? soft.Term : -1;
        var commit = core.CommitIndex;
        if (commit <= node.LeaderCommitSeen)
        {
            return;
        }

        var voters = core.Membership.Voters;
        var commitTerm = core.Log.TermAt(commit);
        var durable = voters.Count(v => nodes.TryGetValue(v, out var n) && n.Storage.Holds(commit, commitTerm));
        if (durable < (voters.Count / 2) + 1)
        {
            throw new SimulationFailureException(
                $"{node.Id}: committed {commit} (term {commitTerm}) while it is durable on only {durable} of {voters.Count} voters");
        }

        node.LeaderCommitSeen = commit;
        MaxLeaderCommitEver = Math.Max(MaxLeaderCommitEver, commit);
    }

    private void CheckNode(SimNode node, RaftCore core)
    {
        var soft = core.SoftState;
        var isLeader = soft.Role == RaftRole.Leader;
        if (isLeader)
        {
            if (leaderOfTerm.TryGetValue(soft.Term, out var other))
            {
                if (other != node.Id)
                {
                    throw new SimulationFailureException($"two leaders in term {soft.Term}: {other} and {node.Id}");
                }
            }
            else
            {
                leaderOfTerm[soft.Term] = node.Id;
            }
        }

        CheckLogMatching(node, core);
        CheckCommit(node, core);
        if (isLeader)
        {
            CheckLeaderCompleteness(node, core);
        }
    }

    private void CheckLogMatching(SimNode node, RaftCore core)
    {
        var log = core.Log;
        var from = Math.Max(log.TakeChangedFrom(), log.FirstIndex);
        for (var i = from; i <= log.LastIndex; i++)
        {
            var entry = log.EntryAt(i);
            var value = (log.TermAt(i - 1), SimStateMachine.Mix(0, entry));
            if (entriesSeen.TryGetValue((i, entry.Term), out var seen))
            {
                if (seen != value)
                {
                    throw new SimulationFailureException(
                        $"{node.Id}: log matching violated at ({i}, {entry.Term}): previous term {value.Item1} vs {seen.PrevTerm}, or different content");
                }
            }
            else
            {
                entriesSeen[(i, entry.Term)] = value;
            }
        }
    }

    private void CheckCommit(SimNode node, RaftCore core)
    {
        var commit = core.CommitIndex;
        if (commit <= node.SeenCommit)
        {
            if (commit < node.SeenCommit)
            {
                throw new SimulationFailureException($"{node.Id}: commit index went back from {node.SeenCommit} to {commit}");
            }

            return;
        }

        var log = core.Log;
        for (var i = Math.Max(node.SeenCommit + 1, log.SnapshotIndex); i <= commit; i++)
        {
            var t = log.TermAt(i);
            if (committedTerm.TryGetValue(i, out var known))
            {
                if (known != t)
                {
                    throw new SimulationFailureException($"{node.Id}: committed entry {i} has term {t}, but term {known} was committed there before");
                }
            }
            else
            {
                committedTerm[i] = t;
            }
        }

        var term = core.SoftState.Term;
        maxCommittedInTerm[term] = Math.Max(maxCommittedInTerm.GetValueOrDefault(term), commit);
        MaxCommitEver = Math.Max(MaxCommitEver, commit);
        if (commit > MaxLeaderCommitEver)
        {
            throw new SimulationFailureException($"{node.Id}: commit {commit} is ahead of any leader's commit ({MaxLeaderCommitEver})");
        }

        node.SeenCommit = commit;
    }

    private void CheckLeaderCompleteness(SimNode node, RaftCore core)
    {
        var term = core.SoftState.Term;
        long required = 0;
        foreach (var (t, index) in maxCommittedInTerm)
        {
            if (t < term && index > required)
            {
                required = index;
            }
        }

        var log = core.Log;
        if (required > log.SnapshotIndex && (required > log.LastIndex || log.TermAt(required) != committedTerm[required]))
        {
            throw new SimulationFailureException(
                $"{node.Id}: leader of term {term} lacks committed entry {required} (term {committedTerm[required]}; it has {log.TermAt(required)})");
        }
    }

    private sealed record Proposal(long Id, long MaxAckedAtPropose);
}

using System.Buffers.Binary;
using PgRaft.Raft.Storage;

namespace PgRaft.Raft.Core;

/// <summary>
/// The deterministic Raft state machine (etcd-raft style): no I/O, no clock, no threads; randomness only from the
/// injected <see cref="Random"/>. Drive it with <see cref="Tick"/>, <see cref="Step"/> and the propose methods, then
/// drain work with <see cref="HasReady"/> / <see cref="GetReady"/> / <see cref="Advance"/> (see <see cref="Ready"/>).
/// Not thread-safe: one host loop owns it.
/// <code>
/// loop: feed Tick() every tick interval, Step(m) for each received message, Propose/ReadIndex/... for requests;
///       while (core.HasReady()) {
///           var ready = core.GetReady();
///           storage.Persist(ready.Snapshot, ready.EntriesToPersist, ready.HardState);   // fsync before anything is sent
///           foreach (var m in ready.Messages) transport.Send(m);
///           if (ready.Snapshot is { } s) stateMachine.Restore(s.Data.Span);
///           foreach (var e in ready.CommittedEntries) if (e.Kind == EntryKind.Command &amp;&amp; e.Data.Length > 0) stateMachine.Apply(e.Index, e.Data.Span);
///           // e.Kind == ConfigChange: the core already applied it to Membership; update transport peers from core.Membership.
///           answer ready.ReadStates once AppliedIndex >= read.Index;
///           core.Advance(ready);
///       }
/// </code>
/// </summary>
/// <remarks>
/// <para>Start-up: the host loads <see cref="PersistedState"/> and restores <c>restored.Snapshot.Data</c> into its state
/// machine before constructing the core; <see cref="AppliedIndex"/> starts at the snapshot's index and the committed
/// entries after it come out again in Readys. A node with no snapshot has empty membership and never campaigns until a
/// leader sends it a snapshot (a node being added). A new cluster's nodes are given a bootstrap snapshot (index 0,
/// term 0, the initial membership, empty data) that the host persisted first.</para>
/// <para>Membership: a configuration entry takes effect as soon as it is in the log (Raft thesis, single-server changes),
/// so <see cref="Membership"/> may include a change that is not committed yet; a truncation reverts it.</para>
/// <para>Compaction: after applying up to some index the host may take a state-machine snapshot and call
/// <see cref="Compact"/>; the core drops its log up to that index and keeps the snapshot (see <see cref="Snapshot"/>) to
/// send to followers whose next entry was compacted. The host then persists <see cref="Snapshot"/> with
/// <c>IRaftStorage.InstallSnapshot</c>; compaction is local and is not returned in a Ready.</para>
/// </remarks>
public sealed class RaftCore
{
    private static readonly byte[] TransferContext = "transfer"u8.ToArray();

    private readonly RaftCoreOptions options;
    private readonly Random random;
    private readonly RaftLog log;
    private readonly Dictionary<string, Progress> progress = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> votes = new(StringComparer.Ordinal);
    private readonly List<PendingRead> pendingReads = [];
    private List<RaftMessage> outbox = [];
    private List<ReadState> readStates = [];

    private long term;
    private string? votedFor;
    private string? leader;
    private RaftRole role;
    private int electionElapsed;
    private int heartbeatElapsed;
    private int randomizedElectionTimeout;
    private string? leadTransferee;
    private bool broadcastPending;
    private long readSeq;

    private HardState persistedHardState;
    private SoftState reportedSoftState;
    private Ready? outstandingReady;
    private long handedIndex;

    public RaftCore(RaftCoreOptions options, PersistedState restored, Random random)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(restored);
        ArgumentNullException.ThrowIfNull(random);
        options.Validate();
        this.options = options;
        this.random = random;
        log = new RaftLog(restored.Snapshot, restored.Entries ?? [], restored.HardState.Commit);
        term = Math.Max(0, restored.HardState.Term);
        votedFor = restored.HardState.VotedFor;
        persistedHardState = restored.HardState;
        AppliedIndex = log.SnapshotIndex;
        handedIndex = AppliedIndex;
        role = RaftRole.Follower;
        ResetTimers();
        reportedSoftState = SoftState;
    }

    public string Id => options.Id;

    public SoftState SoftState => new(role, term, leader);

    /// <summary>Membership in effect (the newest configuration entry in the log, committed or not).</summary>
    public Membership Membership => log.Membership;

    /// <summary>Membership as of the commit index (what the state machine will see once it has applied that far).</summary>
    public Membership CommittedMembership => log.MembershipAt(log.Committed);

    public long CommitIndex => log.Committed;

    public long LastIndex => log.LastIndex;

    public long FirstIndex => log.FirstIndex;

    public long AppliedIndex { get; private set; }

    /// <summary>The newest snapshot the core holds (restored, received, or made by <see cref="Compact"/>); null on an uninitialised node.</summary>
    public Snapshot? Snapshot => log.Snapshot;

    /// <summary>True when the node's log has started (it has a snapshot, possibly the bootstrap one).</summary>
    public bool IsInitialised => log.Initialised;

    /// <summary>Target of a leadership transfer in progress on this leader, else null.</summary>
    public string? LeadTransferee => leadTransferee;

    internal RaftLog Log => log;

    internal HardState CurrentHardState => new(term, votedFor, log.Committed);

    private bool IsPromotable => log.Initialised && log.Membership.Voters.Contains(Id);

    private int Quorum => (log.Membership.Voters.Count / 2) + 1;

    /// <summary>On a leader, its view of every other member; empty on any other role.</summary>
    public IReadOnlyList<FollowerStatus> Followers()
    {
        if (role != RaftRole.Leader)
        {
            return [];
        }

        var list = new List<FollowerStatus>(progress.Count);
        foreach (var (id, pr) in progress)
        {
            list.Add(new FollowerStatus(id, pr.Match, log.Membership.Learners.Contains(id), pr.TicksSinceHeard < options.ElectionTicks));
        }

        list.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return list;
    }

    /// <summary>Advances the logical clock by one tick (elections, heartbeats, quorum checks, transfer timeouts).</summary>
    public void Tick()
    {
        if (role == RaftRole.Leader)
        {
            TickLeader();
        }
        else
        {
            TickElection();
        }
    }

    /// <summary>Feeds one message from a peer. Messages not addressed to this node, from an older term, or malformed are dropped (never thrown on).</summary>
    public void Step(RaftMessage message)
    {
        if (message is null || message.To != Id || message.From == Id || !IsWellFormed(message))
        {
            return;
        }

        if (message.Term > term)
        {
            if (message.Type is MessageType.Vote or MessageType.PreVote)
            {
                var force = message.Type == MessageType.Vote && message.Context.Span.SequenceEqual(TransferContext);
                var inLease = options.CheckQuorum && leader is not null && electionElapsed < options.ElectionTicks;
                if (!force && inLease)
                {
                    // Leader stickiness: we heard from a leader within an election timeout.
                    return;
                }
            }

            if (message.Type == MessageType.PreVote || (message.Type == MessageType.PreVoteResponse && !message.Reject))
            {
                // A pre-vote and its grant speak of a future term; they do not move ours.
            }
            else if (message.Type is MessageType.Append or MessageType.Heartbeat or MessageType.InstallSnapshot)
            {
                BecomeFollower(message.Term, message.From);
            }
            else
            {
                BecomeFollower(message.Term, null);
            }
        }
        else if (message.Term < term)
        {
            if ((options.CheckQuorum || options.PreVote) && message.Type is MessageType.Append or MessageType.Heartbeat)
            {
                // Tell a stale leader about the newer term so it steps down (a node cut off then healed would otherwise
                // stay leader in its old term while we ignore it).
                Send(new RaftMessage { Type = MessageType.AppendResponse, From = Id, To = message.From, Term = term, Index = -1 });
            }
            else if (message.Type is MessageType.PreVote or MessageType.Vote)
            {
                // Tell a lagging (pre-)candidate the current term. Without it a candidate whose voters are not all in our
                // configuration (diverged uncommitted membership changes) may never learn the term it must exceed.
                var type = message.Type == MessageType.PreVote ? MessageType.PreVoteResponse : MessageType.VoteResponse;
                Send(new RaftMessage { Type = type, From = Id, To = message.From, Term = term, Reject = true });
            }

            return;
        }

        switch (message.Type)
        {
            case MessageType.PreVote:
            case MessageType.Vote:
                HandleVoteRequest(message);
                return;
        }

        switch (role)
        {
            case RaftRole.Leader:
                StepLeader(message);
                break;
            case RaftRole.Candidate:
            case RaftRole.PreCandidate:
                StepCandidate(message);
                break;
            default:
                StepFollower(message);
                break;
        }
    }

    /// <summary>
    /// Appends a command on the leader. Accepted only means appended at (Index, Term): the command is committed exactly
    /// when an entry at Index with that Term is applied; if an entry at Index with another term is applied instead, the
    /// proposal was lost (a leader change) and may be retried.
    /// </summary>
    public (ProposeResult Result, long Index, long Term) Propose(ReadOnlyMemory<byte> command)
    {
        if (role != RaftRole.Leader)
        {
            return (ProposeResult.NotLeader, 0, 0);
        }

        if (leadTransferee is not null)
        {
            return (ProposeResult.TransferInProgress, 0, 0);
        }

        var index = AppendLocal(EntryKind.Command, command.ToArray());
        return (ProposeResult.Accepted, index, term);
    }

    /// <summary>
    /// Proposes a single-server membership change on the leader. Refused with <see cref="ProposeResult.ConfigChangePending"/>
    /// while an earlier change is uncommitted or before the leader committed an entry of its own term;
    /// <see cref="ProposeResult.InvalidConfigChange"/> for a change that does not fit the membership (adding a member,
    /// promoting a non-learner or a learner not caught up within <see cref="RaftCoreOptions.MaxPromoteLag"/>, removing a
    /// non-member or the last voter). The change takes effect as soon as it is appended; a removed leader steps down
    /// once its removal commits.
    /// </summary>
    public (ProposeResult Result, long Index, long Term) ProposeConfigChange(ConfigChange change)
    {
        if (role != RaftRole.Leader)
        {
            return (ProposeResult.NotLeader, 0, 0);
        }

        if (leadTransferee is not null)
        {
            return (ProposeResult.TransferInProgress, 0, 0);
        }

        if (log.TermAt(log.Committed) != term || log.LastConfigIndex > log.Committed)
        {
            return (ProposeResult.ConfigChangePending, 0, 0);
        }

        if (string.IsNullOrEmpty(change.NodeId) || ConfigChangeCodec.Apply(log.Membership, change) is null)
        {
            return (ProposeResult.InvalidConfigChange, 0, 0);
        }

        if (change.Kind == ConfigChangeKind.PromoteLearner
            && (!progress.TryGetValue(change.NodeId, out var learner) || learner.Match + options.MaxPromoteLag < log.Committed))
        {
            return (ProposeResult.InvalidConfigChange, 0, 0);
        }

        var index = AppendLocal(EntryKind.ConfigChange, ConfigChangeCodec.Encode(change));
        return (ProposeResult.Accepted, index, term);
    }

    /// <summary>
    /// Starts a linearizable read on the leader: after a heartbeat round confirms leadership with a quorum, a
    /// <see cref="ReadState"/> (commit index at the time of the call, <paramref name="context"/>) appears in a Ready; the
    /// read is safe once that index is applied. False when not leader or no entry of this term is committed yet. A read
    /// that cannot be confirmed (leadership lost) never answers: the host times it out. Contexts should be unique.
    /// </summary>
    public bool ReadIndex(ReadOnlyMemory<byte> context)
    {
        if (role != RaftRole.Leader || log.TermAt(log.Committed) != term)
        {
            return false;
        }

        var read = new PendingRead(++readSeq, log.Committed, context.ToArray());
        if (log.Membership.Voters.Count == 1 && log.Membership.Voters.Contains(Id))
        {
            readStates.Add(new ReadState(read.Index, read.Context));
            return true;
        }

        pendingReads.Add(read);
        BroadcastHeartbeat();
        return true;
    }

    /// <summary>
    /// Hands leadership to voter <paramref name="target"/>: brings it up to date, then sends it TimeoutNow so it campaigns
    /// at once. Proposals are refused meanwhile; the transfer is abandoned after an election timeout. False when not
    /// leader or the target is not another voter.
    /// </summary>
    public bool TransferLeadership(string target)
    {
        if (role != RaftRole.Leader || target == Id || !log.Membership.Voters.Contains(target) || !progress.TryGetValue(target, out var pr))
        {
            return false;
        }

        if (leadTransferee == target)
        {
            return true;
        }

        leadTransferee = target;
        electionElapsed = 0;
        if (pr.Match == log.LastIndex)
        {
            SendTimeoutNow(target);
        }
        else
        {
            SendAppend(target, pr, sendIfEmpty: true);
        }

        return true;
    }

    /// <summary>
    /// Local log compaction. <paramref name="stateMachineSnapshot"/> is the host's state machine exactly as of applied
    /// index <paramref name="index"/> (at most <see cref="AppliedIndex"/>). The core drops its entries up to the index and
    /// keeps the snapshot (<see cref="Snapshot"/>) to send followers that lag behind it. The host must then persist
    /// <see cref="Snapshot"/> with <c>IRaftStorage.InstallSnapshot</c> (which drops the stored log up to the index);
    /// nothing about it comes back in a Ready. An index at or below the current snapshot's is ignored.
    /// </summary>
    public void Compact(long index, ReadOnlyMemory<byte> stateMachineSnapshot)
    {
        if (!log.Initialised || index <= log.SnapshotIndex)
        {
            return;
        }

        if (index > AppliedIndex)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Only applied entries can be compacted; applied index is {AppliedIndex}.");
        }

        var metadata = new SnapshotMetadata(index, log.TermAt(index), log.MembershipAt(index));
        log.CompactTo(new Snapshot(metadata, stateMachineSnapshot.ToArray()));
    }

    /// <summary>True when <see cref="GetReady"/> has work. False while a Ready is out and not yet advanced.</summary>
    public bool HasReady()
    {
        if (outstandingReady is not null)
        {
            return false;
        }

        FlushBroadcast();
        return outbox.Count > 0
            || readStates.Count > 0
            || SoftState != reportedSoftState
            || CurrentHardState != persistedHardState
            || log.PendingSnapshot is not null
            || log.UnstableFrom <= log.LastIndex
            || log.Committed > Math.Max(handedIndex, log.SnapshotIndex);
    }

    /// <summary>Takes the pending work; the host handles it as <see cref="Ready"/> describes, then calls <see cref="Advance"/>.</summary>
    public Ready GetReady()
    {
        if (outstandingReady is not null)
        {
            throw new InvalidOperationException("Call Advance with the previous Ready before taking the next one.");
        }

        FlushBroadcast();
        var soft = SoftState;
        var hard = CurrentHardState;
        var applyFrom = Math.Max(handedIndex, log.SnapshotIndex) + 1;
        var ready = new Ready
        {
            SoftState = soft != reportedSoftState ? soft : null,
            HardState = hard != persistedHardState ? hard : null,
            EntriesToPersist = log.UnstableEntries(),
            Snapshot = log.PendingSnapshot,
            Messages = outbox,
            CommittedEntries = log.Committed >= applyFrom ? log.Slice(applyFrom, log.Committed) : [],
            ReadStates = readStates,
        };
        reportedSoftState = soft;
        handedIndex = Math.Max(handedIndex, log.Committed);
        outbox = [];
        readStates = [];
        outstandingReady = ready;
        return ready;
    }

    /// <summary>The host persisted, sent and applied <paramref name="ready"/>.</summary>
    public void Advance(Ready ready)
    {
        if (outstandingReady is null || !ReferenceEquals(ready, outstandingReady))
        {
            throw new InvalidOperationException("Advance must be given the Ready returned by the last GetReady, once.");
        }

        outstandingReady = null;
        if (ready.HardState is { } hard)
        {
            persistedHardState = hard;
        }

        if (ready.Snapshot is not null)
        {
            log.SnapshotPersisted(ready.Snapshot);
            AppliedIndex = Math.Max(AppliedIndex, ready.Snapshot.Metadata.Index);
        }

        if (ready.EntriesToPersist.Count > 0)
        {
            var last = ready.EntriesToPersist[^1];
            log.StableTo(last.Index, last.Term);
        }

        if (ready.CommittedEntries.Count > 0)
        {
            AppliedIndex = Math.Max(AppliedIndex, ready.CommittedEntries[^1].Index);
        }

        if (role == RaftRole.Leader && MaybeCommit())
        {
            AfterCommitAdvanced();
        }
    }

    private static bool IsWellFormed(RaftMessage m)
    {
        if (string.IsNullOrEmpty(m.From) || m.Term < 0 || m.Commit < 0 || m.Entries is null)
        {
            return false;
        }

        return m.Type is >= MessageType.PreVote and <= MessageType.ReadIndexResponse;
    }

    // ---- timers ----------------------------------------------------------------------------------------------

    private void TickElection()
    {
        if (electionElapsed < int.MaxValue / 2)
        {
            electionElapsed++;
        }

        if (IsPromotable && electionElapsed >= randomizedElectionTimeout)
        {
            electionElapsed = 0;
            Campaign(preVote: options.PreVote, transfer: false);
        }
    }

    private void TickLeader()
    {
        heartbeatElapsed++;
        electionElapsed++;
        if (electionElapsed >= options.ElectionTicks)
        {
            electionElapsed = 0;
            if (options.CheckQuorum && !QuorumRecentlyActive())
            {
                BecomeFollower(term, null);
                return;
            }

            leadTransferee = null;
        }

        foreach (var (id, pr) in progress)
        {
            if (pr.TicksSinceHeard < int.MaxValue / 2)
            {
                pr.TicksSinceHeard++;
            }

            if (pr.State == ProgressState.Snapshot && ++pr.SnapshotElapsed >= options.ElectionTicks)
            {
                // The snapshot or its answer was lost: probe again (which resends the snapshot if still needed).
                pr.BecomeProbe();
                SendAppend(id, pr, sendIfEmpty: true);
            }
        }

        if (heartbeatElapsed >= options.HeartbeatTicks)
        {
            heartbeatElapsed = 0;
            BroadcastHeartbeat();
        }
    }

    private bool QuorumRecentlyActive()
    {
        var active = 0;
        foreach (var voter in log.Membership.Voters)
        {
            if (voter == Id || (progress.TryGetValue(voter, out var pr) && pr.RecentActive))
            {
                active++;
            }
        }

        foreach (var pr in progress.Values)
        {
            pr.RecentActive = false;
        }

        return active >= Quorum;
    }

    private void ResetTimers()
    {
        electionElapsed = 0;
        heartbeatElapsed = 0;
        randomizedElectionTimeout = options.ElectionTicks + random.Next(options.ElectionTicks);
    }

    // ---- role changes ----------------------------------------------------------------------------------------

    private void Reset(long newTerm)
    {
        if (newTerm != term)
        {
            term = newTerm;
            votedFor = null;
        }

        leader = null;
        ResetTimers();
        votes.Clear();
        progress.Clear();
        pendingReads.Clear();
        leadTransferee = null;
        broadcastPending = false;
    }

    private void BecomeFollower(long newTerm, string? newLeader)
    {
        Reset(newTerm);
        role = RaftRole.Follower;
        leader = newLeader;
    }

    private void Campaign(bool preVote, bool transfer)
    {
        if (!IsPromotable)
        {
            return;
        }

        long voteTerm;
        MessageType type;
        if (preVote)
        {
            Reset(term);
            role = RaftRole.PreCandidate;
            voteTerm = term + 1;
            type = MessageType.PreVote;
        }
        else
        {
            Reset(term + 1);
            role = RaftRole.Candidate;
            votedFor = Id;
            voteTerm = term;
            type = MessageType.Vote;
        }

        if (RecordVote(Id, granted: true) == VoteOutcome.Won)
        {
            if (preVote)
            {
                Campaign(preVote: false, transfer);
            }
            else
            {
                BecomeLeader();
            }

            return;
        }

        foreach (var voter in log.Membership.Voters)
        {
            if (voter == Id)
            {
                continue;
            }

            Send(new RaftMessage
            {
                Type = type,
                From = Id,
                To = voter,
                Term = voteTerm,
                Index = log.LastIndex,
                LogTerm = log.LastTerm,
                Context = transfer ? TransferContext : ReadOnlyMemory<byte>.Empty,
            });
        }
    }

    private VoteOutcome RecordVote(string from, bool granted)
    {
        if (!log.Membership.Voters.Contains(from))
        {
            return VoteOutcome.Pending;
        }

        votes.TryAdd(from, granted);
        int yes = 0, no = 0;
        foreach (var v in votes.Values)
        {
            if (v)
            {
                yes++;
            }
            else
            {
                no++;
            }
        }

        if (yes >= Quorum)
        {
            return VoteOutcome.Won;
        }

        return no > log.Membership.Voters.Count - Quorum ? VoteOutcome.Lost : VoteOutcome.Pending;
    }

    private void BecomeLeader()
    {
        Reset(term);
        role = RaftRole.Leader;
        leader = Id;
        foreach (var id in log.Membership.All)
        {
            if (id != Id)
            {
                progress[id] = new Progress(log.LastIndex + 1, options.MaxInflightAppends);
            }
        }

        log.Append(new LogEntry(log.LastIndex + 1, term, EntryKind.Command, ReadOnlyMemory<byte>.Empty));
        BroadcastAppend();
    }

    // ---- votes -----------------------------------------------------------------------------------------------

    private void HandleVoteRequest(RaftMessage m)
    {
        var responseType = m.Type == MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
        var canVote = votedFor == m.From
            || (votedFor is null && leader is null)
            || (m.Type == MessageType.PreVote && m.Term > term);
        var upToDate = (options.Fault & CoreFault.SkipVoteLogCheck) != 0 || log.IsUpToDate(m.Index, m.LogTerm);
        if (canVote && upToDate)
        {
            Send(new RaftMessage { Type = responseType, From = Id, To = m.From, Term = m.Term });
            if (m.Type == MessageType.Vote)
            {
                electionElapsed = 0;
                votedFor = m.From;
            }
        }
        else
        {
            Send(new RaftMessage { Type = responseType, From = Id, To = m.From, Term = term, Reject = true });
        }
    }

    private void StepCandidate(RaftMessage m)
    {
        switch (m.Type)
        {
            case MessageType.Append:
            case MessageType.Heartbeat:
            case MessageType.InstallSnapshot:
                BecomeFollower(m.Term, m.From);
                StepFollower(m);
                return;
            case MessageType.PreVoteResponse when role == RaftRole.PreCandidate:
            case MessageType.VoteResponse when role == RaftRole.Candidate:
                switch (RecordVote(m.From, !m.Reject))
                {
                    case VoteOutcome.Won:
                        if (role == RaftRole.PreCandidate)
                        {
                            Campaign(preVote: false, transfer: false);
                        }
                        else
                        {
                            BecomeLeader();
                        }

                        break;
                    case VoteOutcome.Lost:
                        BecomeFollower(term, null);
                        break;
                }

                return;
        }
    }

    // ---- follower --------------------------------------------------------------------------------------------

    private void StepFollower(RaftMessage m)
    {
        switch (m.Type)
        {
            case MessageType.Append:
                electionElapsed = 0;
                leader = m.From;
                HandleAppend(m);
                break;
            case MessageType.Heartbeat:
                electionElapsed = 0;
                leader = m.From;
                if (m.Commit <= log.LastIndex)
                {
                    log.CommitTo(m.Commit);
                }

                Send(new RaftMessage { Type = MessageType.HeartbeatResponse, From = Id, To = m.From, Term = term, Context = m.Context });
                break;
            case MessageType.InstallSnapshot:
                electionElapsed = 0;
                leader = m.From;
                HandleSnapshot(m);
                break;
            case MessageType.TimeoutNow:
                if (IsPromotable)
                {
                    Campaign(preVote: false, transfer: true);
                }

                break;
        }
    }

    private void HandleAppend(RaftMessage m)
    {
        if (!log.Initialised)
        {
            // We have no snapshot yet (a node being added): ask for one.
            Send(new RaftMessage { Type = MessageType.AppendResponse, From = Id, To = m.From, Term = term, Index = m.Index, Reject = true, RejectHint = -1 });
            return;
        }

        if (m.Index < 0 || !EntriesAreContiguous(m))
        {
            return;
        }

        if (m.Index < log.Committed)
        {
            Send(new RaftMessage { Type = MessageType.AppendResponse, From = Id, To = m.From, Term = term, Index = log.Committed });
            return;
        }

        if (log.MatchTerm(m.Index, m.LogTerm))
        {
            if (!log.MaybeAppend(m.Entries))
            {
                return; // would rewrite a committed entry: a confused peer
            }

            var lastNew = m.Index + m.Entries.Count;
            log.CommitTo(Math.Min(m.Commit, lastNew));
            Send(new RaftMessage { Type = MessageType.AppendResponse, From = Id, To = m.From, Term = term, Index = lastNew });
            return;
        }

        var hint = log.FindConflictByTerm(Math.Min(m.Index, log.LastIndex), m.LogTerm);
        Send(new RaftMessage
        {
            Type = MessageType.AppendResponse,
            From = Id,
            To = m.From,
            Term = term,
            Index = m.Index,
            Reject = true,
            RejectHint = hint,
            LogTerm = log.TermAt(hint),
        });
    }

    private static bool EntriesAreContiguous(RaftMessage m)
    {
        var expected = m.Index + 1;
        var lastTerm = m.LogTerm;
        foreach (var e in m.Entries)
        {
            if (e is null || e.Index != expected || e.Term < lastTerm || e.Term > m.Term)
            {
                return false;
            }

            lastTerm = e.Term;
            expected++;
        }

        return true;
    }

    private void HandleSnapshot(RaftMessage m)
    {
        var snapshot = m.Snapshot;
        if (snapshot?.Metadata?.Membership?.Voters is null || snapshot.Metadata.Membership.Learners is null || snapshot.Metadata.Index < 0 || snapshot.Metadata.Term < 0 || snapshot.Metadata.Term > m.Term)
        {
            return;
        }

        var index = snapshot.Metadata.Index;
        if (log.Initialised && index <= log.Committed)
        {
            Send(new RaftMessage { Type = MessageType.AppendResponse, From = Id, To = m.From, Term = term, Index = log.Committed });
            return;
        }

        if (log.Initialised && log.MatchTerm(index, snapshot.Metadata.Term))
        {
            // We already hold the entries it covers: just learn that they are committed.
            log.CommitTo(index);
        }
        else
        {
            log.Restore(snapshot);
        }

        Send(new RaftMessage { Type = MessageType.AppendResponse, From = Id, To = m.From, Term = term, Index = log.Committed });
    }

    // ---- leader ----------------------------------------------------------------------------------------------

    private long AppendLocal(EntryKind kind, ReadOnlyMemory<byte> data)
    {
        var index = log.LastIndex + 1;
        log.Append(new LogEntry(index, term, kind, data));
        if (kind == EntryKind.ConfigChange)
        {
            SyncProgressWithMembership();
        }

        broadcastPending = true;
        return index;
    }

    private void SyncProgressWithMembership()
    {
        var membership = log.Membership;
        foreach (var id in progress.Keys.ToList())
        {
            if (!membership.Contains(id))
            {
                progress.Remove(id);
                if (leadTransferee == id)
                {
                    leadTransferee = null;
                }
            }
        }

        foreach (var id in membership.All)
        {
            if (id != Id && !progress.ContainsKey(id))
            {
                progress[id] = new Progress(log.LastIndex, options.MaxInflightAppends);
            }
        }
    }

    private void FlushBroadcast()
    {
        if (broadcastPending && role == RaftRole.Leader)
        {
            foreach (var (id, pr) in progress)
            {
                SendAppend(id, pr, sendIfEmpty: false);
            }
        }

        broadcastPending = false;
    }

    private void BroadcastAppend()
    {
        foreach (var (id, pr) in progress)
        {
            SendAppend(id, pr, sendIfEmpty: true);
        }

        broadcastPending = false;
    }

    private void BroadcastHeartbeat()
    {
        var context = pendingReads.Count > 0 ? EncodeReadSeq(pendingReads[^1].Seq) : ReadOnlyMemory<byte>.Empty;
        foreach (var (id, pr) in progress)
        {
            Send(new RaftMessage
            {
                Type = MessageType.Heartbeat,
                From = Id,
                To = id,
                Term = term,
                Commit = Math.Min(pr.Match, log.Committed),
                Context = context,
            });
        }
    }

    private bool SendAppend(string to, Progress pr, bool sendIfEmpty)
    {
        if (pr.IsPaused)
        {
            return false;
        }

        var prevIndex = pr.Next - 1;
        var prevTerm = log.TermAt(prevIndex);
        if (prevTerm < 0)
        {
            return SendSnapshot(to, pr);
        }

        var last = Math.Min(log.LastIndex, prevIndex + options.MaxEntriesPerAppend);
        var entries = log.Slice(prevIndex + 1, last);
        if (entries.Count == 0 && !sendIfEmpty)
        {
            return false;
        }

        Send(new RaftMessage
        {
            Type = MessageType.Append,
            From = Id,
            To = to,
            Term = term,
            Index = prevIndex,
            LogTerm = prevTerm,
            Entries = entries,
            Commit = log.Committed,
        });
        if (entries.Count > 0)
        {
            pr.SentEntries(entries[^1].Index);
        }
        else if (pr.State == ProgressState.Probe)
        {
            pr.ProbeSent = true;
        }

        return true;
    }

    private bool SendSnapshot(string to, Progress pr)
    {
        var snapshot = log.Snapshot;
        if (snapshot is null)
        {
            return false;
        }

        Send(new RaftMessage
        {
            Type = MessageType.InstallSnapshot,
            From = Id,
            To = to,
            Term = term,
            Index = snapshot.Metadata.Index,
            LogTerm = snapshot.Metadata.Term,
            Commit = log.Committed,
            Snapshot = snapshot,
        });
        pr.BecomeSnapshot(snapshot.Metadata.Index);
        return true;
    }

    private void SendTimeoutNow(string to) =>
        Send(new RaftMessage { Type = MessageType.TimeoutNow, From = Id, To = to, Term = term });

    private void StepLeader(RaftMessage m)
    {
        if (!progress.TryGetValue(m.From, out var pr))
        {
            return;
        }

        pr.TicksSinceHeard = 0;
        switch (m.Type)
        {
            case MessageType.AppendResponse:
            case MessageType.InstallSnapshotResponse:
                pr.RecentActive = true;
                HandleAppendResponse(m, pr);
                break;
            case MessageType.HeartbeatResponse:
                pr.RecentActive = true;
                HandleHeartbeatResponse(m, pr);
                break;
        }
    }

    private void HandleAppendResponse(RaftMessage m, Progress pr)
    {
        if (m.Reject)
        {
            if (m.RejectHint < 0)
            {
                if (pr.State != ProgressState.Snapshot)
                {
                    SendSnapshot(m.From, pr);
                }

                return;
            }

            var nextProbe = m.RejectHint;
            if (m.LogTerm > 0)
            {
                nextProbe = log.FindConflictByTerm(m.RejectHint, m.LogTerm);
            }

            if (pr.MaybeDecrTo(m.Index, nextProbe))
            {
                if (pr.State == ProgressState.Replicate)
                {
                    pr.BecomeProbe();
                }

                SendAppend(m.From, pr, sendIfEmpty: true);
            }

            return;
        }

        if (m.Index < 0 || m.Index > log.LastIndex)
        {
            return;
        }

        var wasPaused = pr.IsPaused;
        var updated = pr.MaybeUpdate(m.Index);
        if (pr.State == ProgressState.Snapshot && pr.Match >= pr.PendingSnapshot)
        {
            pr.BecomeProbe();
            pr.BecomeReplicate();
        }
        else if (updated && pr.State == ProgressState.Probe)
        {
            pr.BecomeReplicate();
        }
        else if (pr.State == ProgressState.Replicate)
        {
            pr.FreeInflightsUpTo(m.Index);
        }

        if (updated && MaybeCommit())
        {
            AfterCommitAdvanced();
        }
        else if (wasPaused || updated)
        {
            SendAppend(m.From, pr, sendIfEmpty: false);
        }

        if (role == RaftRole.Leader && progress.ContainsKey(m.From))
        {
            while (!pr.IsPaused && pr.Next <= log.LastIndex && SendAppend(m.From, pr, sendIfEmpty: false))
            {
            }

            if (m.From == leadTransferee && pr.Match == log.LastIndex)
            {
                SendTimeoutNow(m.From);
            }
        }
    }

    private void HandleHeartbeatResponse(RaftMessage m, Progress pr)
    {
        pr.ProbeSent = false;
        if (pr.State == ProgressState.Replicate && pr.InflightsFull)
        {
            pr.FreeFirstInflight();
        }

        if (pr.Match < log.LastIndex)
        {
            SendAppend(m.From, pr, sendIfEmpty: true);
        }

        if (m.Context.Length == sizeof(long))
        {
            var seq = BinaryPrimitives.ReadInt64LittleEndian(m.Context.Span);
            if (seq > pr.ReadAck && seq <= readSeq)
            {
                pr.ReadAck = seq;
                ReleaseConfirmedReads();
            }
        }
    }

    private void ReleaseConfirmedReads()
    {
        var released = 0;
        foreach (var read in pendingReads)
        {
            var acks = 0;
            foreach (var voter in log.Membership.Voters)
            {
                if (voter == Id || (progress.TryGetValue(voter, out var pr) && pr.ReadAck >= read.Seq))
                {
                    acks++;
                }
            }

            if (acks < Quorum)
            {
                break;
            }

            readStates.Add(new ReadState(read.Index, read.Context));
            released++;
        }

        pendingReads.RemoveRange(0, released);
    }

    private bool MaybeCommit()
    {
        var voters = log.Membership.Voters;
        if (voters.Count == 0)
        {
            return false;
        }

        var matches = new long[voters.Count];
        var i = 0;
        foreach (var voter in voters)
        {
            if (voter == Id)
            {
                matches[i++] = (options.Fault & CoreFault.CountUnpersistedSelf) != 0 ? log.LastIndex : log.DurableLastIndex;
            }
            else
            {
                matches[i++] = progress.TryGetValue(voter, out var pr) ? pr.Match : 0;
            }
        }

        Array.Sort(matches);
        Array.Reverse(matches);
        var quorumIndex = (options.Fault & CoreFault.CommitOnMinority) != 0 ? matches[0] : matches[Quorum - 1];
        if (quorumIndex > log.Committed && (log.TermAt(quorumIndex) == term || (options.Fault & CoreFault.CommitEarlierTermsByCount) != 0))
        {
            log.CommitTo(quorumIndex);
            return true;
        }

        return false;
    }

    private void AfterCommitAdvanced()
    {
        BroadcastAppend();
        if (!log.Membership.Voters.Contains(Id) && log.LastConfigIndex <= log.Committed)
        {
            // Our own removal is committed: hand over to the most up-to-date voter at once, then step down.
            string? best = null;
            long bestMatch = -1;
            foreach (var (id, pr) in progress)
            {
                if (log.Membership.Voters.Contains(id) && pr.Match > bestMatch)
                {
                    best = id;
                    bestMatch = pr.Match;
                }
            }

            if (best is not null && bestMatch == log.LastIndex)
            {
                SendTimeoutNow(best);
            }

            BecomeFollower(term, null);
        }
    }

    private void Send(RaftMessage message) => outbox.Add(message);

    private static ReadOnlyMemory<byte> EncodeReadSeq(long seq)
    {
        var buffer = new byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(buffer, seq);
        return buffer;
    }

    private enum VoteOutcome
    {
        Pending,
        Won,
        Lost,
    }

    private sealed record PendingRead(long Seq, long Index, ReadOnlyMemory<byte> Context);
}

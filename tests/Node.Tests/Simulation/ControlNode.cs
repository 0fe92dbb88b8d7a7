using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Leader;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;
using PgRaft.Raft.Core;

namespace PgRaft.Node.Tests.Simulation;

/// <summary>
/// One simulated machine: its clock, its PostgreSQL (which outlives pgraft), its durable Raft store, and while pgraft
/// runs, a <see cref="PgraftProcess"/>. The process mirrors <c>NodeRuntime</c>'s loops (keeper, lease renewal,
/// sentinel, registration) and its leader-side handlers, calling the same rules.
/// </summary>
internal sealed class ControlNode
{
    private readonly ControlSimulation _sim;
    private readonly Snapshot _bootstrap;

    public ControlNode(ControlSimulation sim, string id, SimClock clock, Snapshot bootstrap)
    {
        _sim = sim;
        Id = id;
        Clock = clock;
        _bootstrap = bootstrap;
        Postgres = new SimPostgres(clock);
        Storage = new SimRaftStorage(bootstrap);
        Member = new Member(id, $"{id}.sim:7432", $"{id}.sim:5433", $"{id}.sim:5432", $"{id}.sim:8008", MemberTags.None);
        Start();
    }

    public string Id { get; }
    public SimClock Clock { get; }
    public SimPostgres Postgres { get; }
    public SimRaftStorage Storage { get; }
    public Member Member { get; }
    public PgraftProcess? Process { get; private set; }
    public bool Paused { get; set; }
    public long CrashedUntil { get; set; }

    public bool Up => Process is not null;

    /// <summary>pgraft (and with it the guard) dies: the guard's pipe closes and it stops PostgreSQL at once.</summary>
    public void Crash()
    {
        Process = null;
        Paused = false;
        Postgres.Stop("pgraft died");
    }

    public void Start() => Process = new PgraftProcess(_sim, this, _bootstrap);
}

/// <summary>The pgraft process of one node: Raft core and state machine, keeper, lease keeper, leader duties.</summary>
internal sealed class PgraftProcess
{
    private static readonly TimeSpan RaftTick = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan KeeperInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LeaseInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan SentinelInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MembershipInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ProposeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan SlotCheckInterval = TimeSpan.FromSeconds(2);

    private readonly ControlSimulation _sim;
    private readonly ControlNode _node;
    private readonly Periodic _raftTick;
    private readonly Periodic _keeperLoop;
    private readonly Periodic _leaseLoop;
    private readonly Periodic _sentinelLoop;
    private readonly Periodic _membershipLoop;

    // Leader side: lease requests waiting for their quorum round.
    private readonly Dictionary<long, PendingGrant> _grants = [];
    private readonly List<PendingGrant> _deferredGrants = [];
    private long _nextReadId;

    // Sentinel: the proposal it awaits (the real loop awaits ProposeLocallyAsync).
    private (long Index, long Term, TimeSpan Deadline, string? Primary, long Generation)? _pendingProposal;
    private TimeSpan _nextTransferAttempt;

    // Keeper soft state (KeeperService's fields).
    private string? _upstream;
    private long? _stoppedForSwitchover;
    private Lsn? _finalLsn;
    private string? _lastError;
    private CompletedOperation? _completedOperation;
    private TimeSpan _nextSlotCheck;

    // The newest leader clock reading an ack brought (KeeperService's report clock).
    private readonly LeaderClockEcho _leaderClock;

    // KeeperService's stall watch and the leader's last answer (keeper clock, node health).
    private readonly StreamingWatch _streamingWatch = new();
    private (TimeSpan At, IReadOnlyList<NodeHealth> Nodes)? _lastAnswer;

    // Lease renewal in flight (the real loop awaits it, cancelled after RequestTimeout).
    private (long RequestId, TimeSpan T0, long Generation, TimeSpan Deadline)? _renewal;

    public PgraftProcess(ControlSimulation sim, ControlNode node, Snapshot bootstrap)
    {
        _sim = sim;
        _node = node;
        MonotonicClock = new MonotonicClock(node.Clock);
        StateMachine = new ClusterStateMachine(NullLogger<ClusterStateMachine>.Instance);
        StateMachine.Restore(bootstrap.Data.Span);
        Core = new RaftCore(
            new RaftCoreOptions { Id = node.Id, ElectionTicks = 20, HeartbeatTicks = 2, PreVote = true, CheckQuorum = true },
            node.Storage.Load(),
            new Random(sim.NextSeed()));
        Duties = new LeaderDuties(MonotonicClock);
        var spec = StateMachine.Current.Spec;
        Lease = new LeaseKeeper(MonotonicClock, spec.LeaseTimeout, spec.FenceMargin);
        _leaderClock = new LeaderClockEcho(Lease.Clock);
        var now = node.Clock.Now;
        TimeSpan Jitter(TimeSpan interval) => TimeSpan.FromTicks((long)(interval.Ticks * sim.NextDouble()));
        _raftTick = new Periodic(RaftTick, now + Jitter(RaftTick));
        _keeperLoop = new Periodic(KeeperInterval, now + Jitter(KeeperInterval));
        _leaseLoop = new Periodic(LeaseInterval, now + Jitter(LeaseInterval));
        _sentinelLoop = new Periodic(SentinelInterval, now + Jitter(SentinelInterval));
        _membershipLoop = new Periodic(MembershipInterval, now + Jitter(MembershipInterval));
    }

    public RaftCore Core { get; }
    public ClusterStateMachine StateMachine { get; }
    public MonotonicClock MonotonicClock { get; }
    public LeaderDuties Duties { get; }
    public LeaseKeeper Lease { get; }
    public string? LastKeeperAction { get; private set; }
    public string? LastSentinelDecision { get; private set; }

    private string Id => _node.Id;
    private SimPostgres Postgres => _node.Postgres;
    private ClusterState Current => StateMachine.Current;

    // ---- one simulation step -----------------------------------------------------------------------------------

    public void RunLoops()
    {
        var now = _node.Clock.Now;
        if (_raftTick.Due(now))
        {
            Core.Tick();
        }

        ProcessReady();
        AnswerGrants();
        if (_leaseLoop.Due(now))
        {
            RenewLeaseOnce();
        }

        if (_sentinelLoop.Due(now))
        {
            SentinelOnce();
        }

        if (_keeperLoop.Due(now))
        {
            KeeperOnce();
        }

        if (_membershipLoop.Due(now))
        {
            RegisterOnce();
        }

        ProcessReady();
    }

    public void Receive(string from, SimPayload payload)
    {
        switch (payload)
        {
            case RaftPayload raft:
                Core.Step(raft.Message);
                break;
            case ReportPayload report:
                if (AcceptReport(report.Report) is { } reading)
                {
                    _sim.Send(Id, from, new ReportAckPayload(reading, HealthTable()));
                }

                break;
            case ReportAckPayload ack:
                _leaderClock.Received(ack.Clock);
                _lastAnswer = (MonotonicClock.Now, ack.Nodes);
                break;
            case LeaseRequestPayload request:
                StartGrant(from, request);
                break;
            case LeaseResponsePayload response:
                OnLeaseResponse(response);
                break;
            case ProposePayload propose:
                if (Core.SoftState.Role == RaftRole.Leader)
                {
                    Core.Propose(propose.Command);
                }

                break;
        }

        ProcessReady();
    }

    /// <summary>The Ready contract: persist, send, apply, advance.</summary>
    public void ProcessReady()
    {
        while (Core.HasReady())
        {
            var ready = Core.GetReady();
            if (ready.Snapshot is not null)
            {
                throw new InvalidOperationException("the simulation does not compact, yet a snapshot arrived");
            }

            _node.Storage.Persist(ready.EntriesToPersist, ready.HardState);
            foreach (var message in ready.Messages)
            {
                _sim.Send(Id, message.To, new RaftPayload(message));
            }

            foreach (var entry in ready.CommittedEntries)
            {
                if (entry.Kind != EntryKind.Command)
                {
                    continue;
                }

                var before = Current;
                StateMachine.Apply(entry.Index, entry.Data.Span);
                _sim.OnApplied(_node, entry.Index, before, Current);
            }

            foreach (var read in ready.ReadStates)
            {
                var id = BinaryPrimitives.ReadInt64LittleEndian(read.Context.Span);
                if (_grants.TryGetValue(id, out var grant))
                {
                    grant.ReadIndex = read.Index;
                }
            }

            Core.Advance(ready);
        }
    }

    private bool IsLeader(out long term)
    {
        var soft = Core.SoftState;
        term = soft.Term;
        return soft.Role == RaftRole.Leader;
    }

    /// <summary>Where to send to the leader: null when none is known or it has not registered (LeaderApiAddress).</summary>
    private string? LeaderTarget()
    {
        var leader = Core.SoftState.Leader;
        return leader is not null && (leader == Id || Current.Members.ContainsKey(leader)) ? leader : null;
    }

    // ---- leader side (NodeRuntime.AcceptReportAsync / GrantLeaseAsync / SentinelOnceAsync) ------------------------

    /// <summary>The leader's clock reading for the ack, or null when this node does not lead (the call fails).</summary>
    private LeaderClockReading? AcceptReport(KeeperReport report)
    {
        if (!IsLeader(out var term))
        {
            return null;
        }

        Duties.EnsureTerm(term);
        return Duties.Accept(report, Id, Current.Spec);
    }

    /// <summary>Every node's health, as NodeRuntime.AcceptReportAsync puts it in the ack.</summary>
    private List<NodeHealth> HealthTable()
    {
        var spec = Current.Spec;
        var (reports, _) = Duties.Snapshot();
        var now = MonotonicClock.Now;
        var primaryPosition = Current.View.Primary is { } primary ? reports.Latest(primary)?.Position : null;
        return reports.Nodes.Values
            .Select(r => r.Latest)
            .Select(r => new NodeHealth(
                r.NodeId,
                r.PostgresRunning && r.IsFresh(now, spec.FailTimeout),
                r.Role,
                r.Healthy,
                primaryPosition is { } p && r.Position is { } position ? (long)p.BytesSince(position) : (r.Role == PgRole.Primary ? 0 : long.MaxValue),
                r.Position,
                (now - r.ReceivedAt).TotalSeconds))
            .ToList();
    }

    private sealed class PendingGrant(string from, long requestId, LeaseRequest request, long term, TimeSpan startedAt)
    {
        public string From => from;
        public long RequestId => requestId;
        public LeaseRequest Request => request;
        public long Term => term;
        public TimeSpan StartedAt => startedAt;
        public long? ReadIndex { get; set; }
    }

    private void StartGrant(string from, LeaseRequestPayload payload)
    {
        if (!IsLeader(out var term))
        {
            return; // RequireLeader throws; the keeper's call fails
        }

        Duties.EnsureTerm(term);
        var grant = new PendingGrant(from, payload.RequestId, payload.Request, term, MonotonicClock.Now);
        if (!TryRead(grant))
        {
            _deferredGrants.Add(grant);
        }
    }

    private bool TryRead(PendingGrant grant)
    {
        var readId = ++_nextReadId;
        var context = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(context, readId);
        if (!Core.ReadIndex(context))
        {
            return false;
        }

        _grants[readId] = grant;
        return true;
    }

    private void AnswerGrants()
    {
        var now = MonotonicClock.Now;
        var abandonAfter = Current.Spec.LeaseTimeout / 4;
        for (var i = _deferredGrants.Count - 1; i >= 0; i--)
        {
            var grant = _deferredGrants[i];
            if (now - grant.StartedAt >= abandonAfter || Core.SoftState.Role != RaftRole.Leader || TryRead(grant))
            {
                _deferredGrants.RemoveAt(i);
            }
        }

        List<long>? done = null;
        foreach (var (readId, grant) in _grants)
        {
            if (grant.ReadIndex is { } index && StateMachine.Applied.Index >= index)
            {
                var stillLeader = IsLeader(out var term) && term == grant.Term;
                var decision = LeaseGrantRule.Decide(grant.Request, stillLeader, Current);
                var granted = decision.Granted;
                var reason = decision.Reason;
                if (granted && !Duties.RecordGrant(grant.Term, grant.Request.NodeId, grant.Request.Generation))
                {
                    granted = false;
                    reason = "a failover away from this primary is under way";
                }

                _sim.Send(Id, grant.From, new LeaseResponsePayload(grant.RequestId, granted, reason));
                (done ??= []).Add(readId);
            }
            else if (now - grant.StartedAt >= abandonAfter)
            {
                (done ??= []).Add(readId); // the caller gave up; the read is abandoned
            }
        }

        foreach (var id in done ?? [])
        {
            _grants.Remove(id);
        }
    }

    private void SentinelOnce()
    {
        if (!IsLeader(out var term))
        {
            LastSentinelDecision = null;
            return;
        }

        if (_pendingProposal is { } pending)
        {
            if (StateMachine.Applied.Index < pending.Index && Core.SoftState.Term == pending.Term && MonotonicClock.Now < pending.Deadline)
            {
                return;
            }

            if (pending.Primary is { } primary && Core.SoftState.Term == pending.Term)
            {
                if (StateMachine.Applied.Index < pending.Index)
                {
                    Duties.ReplacementMayBePending(); // the real loop's proposal timed out
                }
                else if (Current.View.Primary == primary)
                {
                    Duties.LiftRevocation(); // applied, yet the primary stayed: rejected (the real loop sees the result)
                }
            }

            _pendingProposal = null;
        }

        Duties.EnsureTerm(term);
        var state = Current;
        Duties.ObservePrimary(state.View.Primary);
        var (reports, leases) = Duties.Snapshot();
        var broken = _sim.Parameters.Broken == BrokenRule.SentinelSkipsLeaseWait;

        // The broken rule: the sentinel believes leases last no time at all, so it never waits for one to run out.
        var seen = broken ? state with { Spec = state.Spec with { LeaseTimeout = TimeSpan.FromTicks(1), DriftMargin = TimeSpan.Zero } } : state;
        var decision = SentinelRules.Decide(new SentinelInput(seen, reports, MonotonicClock.Now, leases, _node.Clock.GetUtcNow()));
        LastSentinelDecision = decision.ToString();
        if (decision.Command is null)
        {
            Duties.LiftRevocation();
            HandLeadershipAwayFromPrimary(state, reports);
            return;
        }

        var replaced = !broken && decision.Command is ChangeView change && state.View.Primary is { } oldPrimary && change.View.Primary != oldPrimary ? oldPrimary : null;
        if (replaced is null)
        {
            Duties.LiftRevocation();
        }
        else if (!Duties.RevokeAndCheckExpired(replaced, state.View.Generation, state.Spec.LeaseTimeout, state.Spec.DriftMargin))
        {
            return;
        }

        var (result, index, proposedTerm) = Core.Propose(CommandCodec.Encode(decision.Command));
        if (result != ProposeResult.Accepted)
        {
            if (replaced is not null)
            {
                Duties.LiftRevocation(); // NotLeaderException in the real loop
            }
        }
        else
        {
            _pendingProposal = (index, proposedTerm, MonotonicClock.Now + ProposeTimeout, replaced, state.View.Generation);
            _sim.CountEvent("sentinel " + decision.Status, $"{Id} g{state.View.Generation}: {decision.Reason}");
        }
    }

    private void HandLeadershipAwayFromPrimary(ClusterState state, ReportTable reports)
    {
        var now = MonotonicClock.Now;
        if (state.View.Primary != Id || now < _nextTransferAttempt)
        {
            return;
        }

        var target = Core.Membership.Voters
            .Where(v => v != Id)
            .Select(v => reports.Latest(v))
            .Where(r => r is { IsHealthyStandby: true } && r.IsFresh(now, state.Spec.FailTimeout))
            .OrderByDescending(r => r!.Position)
            .FirstOrDefault();
        if (target is null)
        {
            return;
        }

        _nextTransferAttempt = now + TimeSpan.FromSeconds(5);
        Core.TransferLeadership(target.NodeId);
        _sim.CountEvent("leadership handed away from the primary");
    }

    // ---- keeper side of the lease (NodeRuntime.RenewLeaseOnceAsync) --------------------------------------------------

    private void RenewLeaseOnce()
    {
        var state = Current;
        Lease.Reconfigure(state.Spec.LeaseTimeout, state.Spec.FenceMargin);
        if (_renewal is { } inFlight)
        {
            if (MonotonicClock.Now < inFlight.Deadline)
            {
                return;
            }

            _renewal = null; // cancelled after RequestTimeout
        }

        var isSwitchoverTarget = state.Switchover is { To: { } to } && to == Id;
        if ((state.View.Primary != Id && !isSwitchoverTarget) || !Lease.Holder.ShouldRenew(MonotonicClock.Now))
        {
            return;
        }

        var leader = LeaderTarget();
        if (leader is null)
        {
            return;
        }

        var generation = state.View.Generation;
        var t0 = Lease.Requesting();
        var requestId = _sim.NextId();
        _renewal = (requestId, t0, generation, t0 + Lease.Holder.RequestTimeout);
        _sim.Send(Id, leader, new LeaseRequestPayload(requestId, new LeaseRequest(Id, generation)));
    }

    private void OnLeaseResponse(LeaseResponsePayload response)
    {
        if (_renewal is not { } inFlight || inFlight.RequestId != response.RequestId || MonotonicClock.Now >= inFlight.Deadline)
        {
            return;
        }

        _renewal = null;
        if (!response.Granted)
        {
            return;
        }

        Lease.Granted(inFlight.T0, inFlight.Generation);
        var remaining = Lease.RemainingUntilFence;
        if (Current.View.Primary == Id && remaining > TimeSpan.Zero && Postgres.Running)
        {
            Postgres.RenewLease(remaining);
        }
    }

    // ---- keeper (KeeperService.RunOnceAsync) ---------------------------------------------------------------------

    private void KeeperOnce()
    {
        var current = Current;
        var observedAfter = _leaderClock.BeforeProbe();
        var local = Observe();
        SendReport(BuildReport(current, local) with { ObservedAfter = observedAfter });
        var now = MonotonicClock.Now;
        var primaryAvailable = _lastAnswer is { } answer && now - answer.At < current.Spec.FailTimeout
            && StreamingWatch.PrimaryHealthy(answer.Nodes, current.View.Primary)
            && current.View.Primary is { } primary && _sim.ReachablePostgres(Id, primary) is not null; // KeeperService's TCP connect
        var notStreamingFor = _streamingWatch.Observe(Id, current, local, primaryAvailable, now);
        var action = KeeperPlanner.Plan(new KeeperSituation(Id, current, local, Lease.HoldsLease, notStreamingFor, _completedOperation?.Id ?? 0));
        LastKeeperAction = action.ToString();
        if (action is WaitAction)
        {
            Housekeep(current, local);
            return;
        }

        _sim.CountEvent("keeper " + action.GetType().Name, $"{Id}: {action.Reason}");
        if (action is CloneAction { OperationId: null } && local.Running)
        {
            _sim.CountEvent("stuck standby re-cloned", Id);
        }

        var error = Execute(action, current);
        _lastError = error is null ? null : $"{action.GetType().Name}: {error}";
        // As KeeperService records an operation's outcome.
        var operation = action switch
        {
            RestartAction { OperationId: { } id } => id,
            CloneAction { OperationId: { } id } => id,
            _ => (long?)null,
        };
        if (operation is { } done)
        {
            _completedOperation = new CompletedOperation(done, error is null, error ?? "done");
        }
    }

    private LocalPostgres Observe()
    {
        var pg = Postgres;
        if (!pg.Initialized)
        {
            return LocalPostgres.Missing;
        }

        return pg.Running
            ? new LocalPostgres(true, true, pg.Role, pg.SystemIdentifier, pg.Timeline, pg.Position, pg.Role == PgRole.Standby ? _upstream : null, pg.EffectiveSync.ToSynchronousStandbyNames(), "", pg.TimelineFork, pg.Streaming)
            : new LocalPostgres(true, false, pg.Role, pg.SystemIdentifier, pg.Timeline, pg.Position, null, "", "", pg.TimelineFork);
    }

    private KeeperReport BuildReport(ClusterState current, LocalPostgres local)
    {
        var wanted = current.View.PrimarySync;
        var running = local.Running;
        return new KeeperReport
        {
            NodeId = Id,
            PostgresRunning = running,
            Role = local.Role,
            SystemIdentifier = local.SystemIdentifier,
            Timeline = local.Timeline,
            TimelineFork = local.TimelineFork,
            FlushLsn = local.Role == PgRole.Primary ? (_stoppedForSwitchover is not null && _finalLsn is { } final ? final : local.Position) : null,
            ReceiveLsn = running && local.Role == PgRole.Standby ? local.Position : null,
            ReplayLsn = running && local.Role == PgRole.Standby ? local.Position : null,
            Upstream = local.Upstream,
            AppliedSync = running && local.Role == PgRole.Primary && local.SynchronousStandbyNames == wanted.ToSynchronousStandbyNames() ? wanted : null,
            AppliedGeneration = current.View.Generation,
            StoppedForSwitchover = running ? null : _stoppedForSwitchover,
            Healthy = running,
            Error = _lastError,
            CompletedOperation = _completedOperation,
        };
    }

    private void SendReport(KeeperReport report)
    {
        var leader = LeaderTarget();
        if (leader == Id)
        {
            var reading = AcceptReport(report);
            _leaderClock.Received(reading);
            if (reading is not null)
            {
                _lastAnswer = (MonotonicClock.Now, HealthTable());
            }
        }
        else if (leader is not null)
        {
            _sim.Send(Id, leader, new ReportPayload(report));
        }
    }

    /// <summary>Does the action; returns an error message when it could not (the real executor throws).</summary>
    private string? Execute(KeeperAction action, ClusterState current)
    {
        var pg = Postgres;
        var generation = current.View.Generation;
        switch (action)
        {
            case InitializeAction:
                pg.Initialize(_sim.NewSystemIdentifier(), _sim.NewRecord(timelineSwitch: false));
                pg.Configure(current.View.PrimarySync);
                return null;
            case CloneAction clone:
                if (_sim.ReachablePostgres(Id, clone.Upstream) is not { } cloneSource)
                {
                    return $"cannot reach {clone.Upstream}'s PostgreSQL";
                }

                if (pg.Running)
                {
                    pg.Stop("stopped to re-clone"); // a stuck standby, as KeeperService does
                }

                _streamingWatch.Reset();
                pg.CopyFrom(cloneSource, clone.Upstream);
                _upstream = clone.Upstream;
                return null;
            case StartPrimaryAction:
                if (pg.Running)
                {
                    return "already running";
                }

                pg.Configure(current.View.PrimarySync);
                if (current.Bootstrap is { } b && b.SystemIdentifier != pg.SystemIdentifier)
                {
                    return "system identifier mismatch";
                }

                pg.Start(asStandby: false, Lease.RemainingUntilFence);
                _stoppedForSwitchover = null;
                return null;
            case StartStandbyAction start:
                if (pg.Running)
                {
                    return "already running";
                }

                if (start.Upstream is not null)
                {
                    pg.Conninfo = start.Upstream;
                }

                pg.Configure(SyncConfig.Async);
                pg.Start(asStandby: true, leaseRemaining: null);
                _upstream = start.Upstream;
                _stoppedForSwitchover = null;
                return null;
            case PromoteAction:
                if (!pg.RenewLease(Lease.RemainingUntilFence))
                {
                    return "the fencing guard did not take the lease deadline; not promoting";
                }

                pg.Configure(current.View.PrimarySync); // KeeperService writes the primary's configuration first
                pg.Promote(_sim.NewRecord(timelineSwitch: true));
                _upstream = null;
                _sim.CountEvent("promotion");
                return null;
            case FollowAction follow:
                pg.Conninfo = follow.Upstream;
                _upstream = follow.Upstream;
                return null;
            case FenceAction:
                Lease.Release();
                pg.Stop("fenced by keeper");
                return null;
            case RewindAction rewind:
                if (_sim.ReachablePostgres(Id, rewind.Source) is not { } rewindSource)
                {
                    return $"cannot reach {rewind.Source}'s PostgreSQL";
                }

                pg.CopyFrom(rewindSource, rewind.Source);
                _upstream = rewind.Source;
                return null;
            case ApplySyncAction apply:
                pg.Configure(apply.Sync);
                return null;
            case StopForSwitchoverAction stop:
                _sim.FlushToStandbys(_node);
                pg.Stop("stopped for switchover");
                Lease.Release();
                _finalLsn = pg.Position;
                _stoppedForSwitchover = stop.Generation;
                return null;
            case RestartAction:
                if (!pg.Running)
                {
                    return "not running";
                }

                var asStandby = pg.StandbySignal;
                pg.Stop("restarted by keeper");
                if (!asStandby && !Lease.HoldsLease)
                {
                    return "the primary lease ran out during the restart";
                }

                pg.Start(asStandby, asStandby ? null : Lease.RemainingUntilFence);
                return null;
            case EndOperationAction end:
                _completedOperation = new CompletedOperation(end.OperationId, end.Succeeded, end.Reason);
                return null;
            default:
                return $"the keeper cannot execute {action.GetType().Name}";
        }
    }

    private void Housekeep(ClusterState current, LocalPostgres local)
    {
        if (!local.Running)
        {
            return;
        }

        var isPrimary = local.Role == PgRole.Primary && current.View.Primary == Id;
        Postgres.Configure(isPrimary ? current.View.PrimarySync : SyncConfig.Async);
        var now = MonotonicClock.Now;
        if (isPrimary && now >= _nextSlotCheck)
        {
            _nextSlotCheck = now + SlotCheckInterval;
            if (current.Bootstrap is { PostBootstrapScriptDone: false } bootstrap && bootstrap.NodeId == Id)
            {
                ProposeThroughLeader(new RecordPostBootstrapScriptDone(Id));
            }
        }
    }

    // ---- membership ----------------------------------------------------------------------------------------------

    private void RegisterOnce()
    {
        var state = Current;
        if (state.Members.TryGetValue(Id, out var registered) && registered.Equals(_node.Member))
        {
            return;
        }

        if (Core.SoftState.Leader is null)
        {
            return;
        }

        ProposeThroughLeader(registered is null ? new AddMember(_node.Member) : new UpdateMember(_node.Member));
    }

    public void ProposeThroughLeader(ClusterCommand command)
    {
        var leader = LeaderTarget();
        if (leader == Id)
        {
            Core.Propose(CommandCodec.Encode(command));
        }
        else if (leader is not null)
        {
            _sim.Send(Id, leader, new ProposePayload(CommandCodec.Encode(command)));
        }
    }
}

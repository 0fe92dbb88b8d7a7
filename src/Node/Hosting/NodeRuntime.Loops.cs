using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Leader;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;
using PgRaft.Raft.Core;
using PgRaft.Raft.Hosting;

namespace PgRaft.Node.Hosting;

internal sealed partial class NodeRuntime
{
    private SentinelStatus? _lastSentinelStatus;
    private string? _lastSentinelReason;

    /// <summary>The sentinel's last decision: on the leader its own, elsewhere what the leader's last report ack said.</summary>
    private volatile SentinelSummary? _sentinel;
    private TimeSpan _nextSentinelLog;
    private string? _lastLeaseRefusal;
    private TimeSpan _nextTransferAttempt;
    private readonly ReportCadence _reportCadence = new(ReportInterval);

    /// <summary>The leader's API address, or null when no leader is known or it has not registered yet.</summary>
    private string? LeaderApiAddress(out bool isSelf)
    {
        var leader = _raft.LeaderId;
        isSelf = leader == _options.NodeId;
        return leader is not null && _stateMachine.Current.Members.TryGetValue(leader, out var member) ? member.ApiAddress : null;
    }

    private bool IsSwitchoverTarget(ClusterState state) => state.Switchover is { To: { } to } && to == _options.NodeId;

    private TimeSpan NextReportInterval()
    {
        var state = _stateMachine.Current;
        var routing = _routing.Current;
        var holding = state.View.Primary is not null && routing.InContactWithMajority && routing.Primary is null;
        return _reportCadence.Next(_clock.Now, IsSwitchoverTarget(state), holding);
    }

    private async Task ReportOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _keeper.ReportOnceAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is NotLeaderException or HttpRequestException or TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // The leader is changing or unreachable; the next round reports again.
            LogMessages.LeaderUnreachable(_logger, _raft.LeaderId, "report", ex.Message);
        }
    }

    /// <summary>Sends a report to the leader; returns the leader's clock reading from its ack (null when no leader took it).</summary>
    private async Task<LeaderClockReading?> SendReportAsync(KeeperReport report, CancellationToken cancellationToken)
    {
        var leaderChange = Volatile.Read(ref _leaderChange).Token;
        var address = LeaderApiAddress(out var isSelf);
        ReportAck ack;
        if (isSelf)
        {
            ack = await AcceptReportAsync(report, cancellationToken);
        }
        else if (address is not null)
        {
            using var untilLeaderChanges = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, leaderChange);
            ack = await _leaderClient.ReportAsync(address, report, RemoteCallTimeout, untilLeaderChanges.Token);
        }
        else
        {
            return null;
        }

        _health = ack.Nodes;
        _sentinel = ack.Sentinel;
        _routingSignal.Set();
        return ack.Clock;
    }

    private async Task ProposeThroughLeaderAsync(ClusterCommand command, CancellationToken cancellationToken)
    {
        var address = LeaderApiAddress(out var isSelf);
        if (isSelf)
        {
            await ProposeLocallyAsync(command, cancellationToken);
        }
        else if (address is not null)
        {
            await _leaderClient.ProposeAsync(address, command, TimeSpan.FromSeconds(3), cancellationToken);
        }
        else
        {
            throw new NotLeaderException(_raft.LeaderId, "cannot forward the proposal:");
        }
    }

    private async Task<CommandResult> ProposeLocallyAsync(ClusterCommand command, CancellationToken cancellationToken)
    {
        var result = await _raft.ProposeAsync(CommandCodec.Encode(command), cancellationToken);
        return result as CommandResult ?? CommandResult.Ignored("no result");
    }

    // ---- keeper side of the lease ------------------------------------------------------------------------------

    private async Task RenewLeaseOnceAsync(CancellationToken cancellationToken)
    {
        var state = _stateMachine.Current;
        _lease.Reconfigure(state.Spec.LeaseTimeout, state.Spec.FenceMargin);
        var isPrimary = state.View.Primary == _options.NodeId;
        var isSwitchoverTarget = IsSwitchoverTarget(state);
        if (!(isPrimary || isSwitchoverTarget) || !_lease.Holder.ShouldRenew(_clock.Now))
        {
            return;
        }

        var generation = state.View.Generation;
        var request = new LeaseRequest(_options.NodeId, generation);
        var leaderChange = Volatile.Read(ref _leaderChange).Token;
        var address = LeaderApiAddress(out var isSelf);
        if (address is null && !isSelf)
        {
            return;
        }

        var t0 = _lease.Requesting();
        LeaseResponse response;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, leaderChange);
            deadline.CancelAfter(_lease.Holder.RequestTimeout);
            response = isSelf
                ? await GrantLeaseAsync(request, deadline.Token)
                : await _leaderClient.RenewLeaseAsync(address!, request, _lease.Holder.RequestTimeout, deadline.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // No answer from this leader: ask again at the loop's next turn (50 ms, or at once when the leader changes)
            // rather than a renew interval later, as the lease may be running out.
            _lease.RenewNow();
            LogMessages.LeaderUnreachable(_logger, _raft.LeaderId, "lease", leaderChange.IsCancellationRequested ? "the Raft leader changed" : ex.Message);
            return;
        }

        if (!response.Granted)
        {
            if (response.Reason != _lastLeaseRefusal)
            {
                LogMessages.LeaseRefused(_logger, generation, response.Reason);
                _lastLeaseRefusal = response.Reason;
            }

            return;
        }

        var hadLease = _lease.HoldsLease;
        _lease.Granted(t0, generation);
        _lastLeaseRefusal = null;
        var remaining = _lease.RemainingUntilFence;
        if (!hadLease)
        {
            _keeperSignal.Set();
            LogMessages.LeaseAcquired(_logger, generation, (long)remaining.TotalMilliseconds);
        }

        // A standby's guard gets no deadline: a switchover target's early lease must not stop it if the switchover
        // is cancelled; the promotion hands the guard its deadline first.
        if (isPrimary && remaining > TimeSpan.Zero && _postgres.IsRunning)
        {
            try
            {
                await _postgres.RenewLeaseAsync(remaining, cancellationToken);
            }
            catch (ObjectDisposedException)
            {
                // PostgreSQL stopped between the check and the renewal; the keeper sees it next round.
            }
        }
    }

    // ---- leader side ---------------------------------------------------------------------------------------------

    private Task<ReportAck> AcceptReportAsync(KeeperReport report, CancellationToken cancellationToken)
    {
        var term = RequireLeader();
        _duties.EnsureTerm(term);
        var clock = _duties.Accept(report, _options.NodeId, _stateMachine.Current.Spec);
        _sentinelSignal.Set();
        var (reports, _) = _duties.Snapshot();
        var nodes = HealthTable.From(reports, _stateMachine.Current, _clock.Now);
        return Task.FromResult(new ReportAck(_options.NodeId, nodes, clock, _sentinel));
    }

    private async Task<LeaseResponse> GrantLeaseAsync(LeaseRequest request, CancellationToken cancellationToken)
    {
        var term = RequireLeader();
        _duties.EnsureTerm(term);
        bool stillLeader;
        try
        {
            await _raft.ReadIndexAsync(cancellationToken);
            stillLeader = _raft.IsLeader && _raft.Term == term;
        }
        catch (NotLeaderException)
        {
            stillLeader = false;
        }

        var committed = _stateMachine.Current;
        var (reports, leases) = _duties.Snapshot();
        var failoverDue = SentinelRules.FailoverDue(new SentinelInput(committed, reports, _clock.Now, leases, _time.GetUtcNow()), request.NodeId);
        var decision = LeaseGrantRule.Decide(request, stillLeader, committed, failoverDue);
        if (decision.Granted && !_duties.RecordGrant(term, request.NodeId, request.Generation))
        {
            return new LeaseResponse(false, "a failover away from this primary is under way");
        }

        return new LeaseResponse(decision.Granted, decision.Reason);
    }

    private long RequireLeader()
    {
        var soft = _raft.SoftState;
        return soft.Role == RaftRole.Leader ? soft.Term : throw new NotLeaderException(soft.Leader);
    }

    private async Task SentinelOnceAsync(CancellationToken cancellationToken)
    {
        var soft = _raft.SoftState;
        if (soft.Role != RaftRole.Leader)
        {
            _lastSentinelStatus = null;
            return;
        }

        _duties.EnsureTerm(soft.Term);
        var state = _stateMachine.Current;
        _duties.ObservePrimary(state.View.Primary);
        var (reports, leases) = _duties.Snapshot();
        var decision = SentinelRules.Decide(new SentinelInput(state, reports, _clock.Now, leases, _time.GetUtcNow()));
        _sentinel = new SentinelSummary(_options.NodeId, decision.Status.ToString(), decision.Command is null ? decision.Reason : $"proposing {decision.Command.GetType().Name}: {decision.Reason}");
        if (decision.Command is null)
        {
            // Reasons carry live figures; log when the status changes, and at most every 5 s while it holds.
            if (decision.Status != _lastSentinelStatus || _clock.Now >= _nextSentinelLog)
            {
                LogMessages.SentinelStatusChanged(_logger, decision.Status.ToString(), decision.Reason);
                _lastSentinelStatus = decision.Status;
                _nextSentinelLog = _clock.Now + TimeSpan.FromSeconds(5);
            }
            else if (decision.Reason != _lastSentinelReason)
            {
                LogMessages.SentinelWaits(_logger, decision.Status.ToString(), decision.Reason);
            }

            _lastSentinelReason = decision.Reason;

            _duties.LiftRevocation();
            await HandLeadershipAwayFromPrimaryAsync(state, reports, cancellationToken);
            return;
        }

        var replaced = decision.Command is ChangeView change && state.View.Primary is { } oldPrimary && change.View.Primary != oldPrimary ? oldPrimary : null;
        if (replaced is null)
        {
            _duties.LiftRevocation();
        }
        // A switchover promotes without waiting out the old primary's lease only while it reports itself stopped for
        // that switchover (SentinelRules), and no lease is granted to it while the switchover is pending (LeaseGrantRule).
        else if (!_duties.RevokeAndCheckExpired(replaced, state.View.Generation, state.Spec.LeaseTimeout, state.Spec.DriftMargin)
            && ((ChangeView)decision.Command!).History?.Reason != ChangeReason.Switchover)
        {
            return;
        }

        _lastSentinelStatus = null;
        LogMessages.SentinelProposes(_logger, decision.Command.GetType().Name, decision.Reason);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(2));
        CommandResult result;
        try
        {
            result = await ProposeLocallyAsync(decision.Command, deadline.Token);
        }
        catch (NotLeaderException) when (replaced is not null)
        {
            // Not in this leader's log (refused, say during a leadership transfer): the old primary was not replaced.
            _duties.LiftRevocation();
            throw;
        }
        catch (Exception) when (replaced is not null)
        {
            // Timed out (or worse): the entry may be in the log and still be applied.
            _duties.ReplacementMayBePending();
            throw;
        }

        if (replaced is not null && !result.IsApplied)
        {
            _duties.LiftRevocation();
        }
    }

    /// <summary>DESIGN §7: the Raft leader should not run on the primary's node, so losing that node costs no election.</summary>
    private async Task HandLeadershipAwayFromPrimaryAsync(ClusterState state, ReportTable reports, CancellationToken cancellationToken)
    {
        if (state.View.Primary != _options.NodeId || _clock.Now < _nextTransferAttempt)
        {
            return;
        }

        // Not while this node is still becoming primary: a leadership change then would refuse the lease it needs
        // to promote, and the failover would wait for the next leader.
        if (reports.Latest(_options.NodeId) is not { IsHealthyPrimary: true } own || !own.IsFresh(_clock.Now, state.Spec.FailTimeout))
        {
            return;
        }

        var target = _raft.Membership.Voters
            .Where(v => v != _options.NodeId)
            .Select(v => reports.Latest(v))
            .Where(r => r is { IsHealthyStandby: true } && r.IsFresh(_clock.Now, state.Spec.FailTimeout))
            .OrderByDescending(r => r!.Position)
            .FirstOrDefault();
        if (target is null)
        {
            return;
        }

        _nextTransferAttempt = _clock.Now + TimeSpan.FromSeconds(5);
        LogMessages.TransferringLeadershipAwayFromPrimary(_logger, target.NodeId);
        await _raft.TransferLeadershipAsync(target.NodeId, cancellationToken);
    }

    // ---- membership and routing ----------------------------------------------------------------------------------

    private async Task RegisterOnceAsync(CancellationToken cancellationToken)
    {
        await MaintainMembershipAsync(cancellationToken);
        if (!_raft.Membership.Contains(_options.NodeId))
        {
            return;
        }

        var state = _stateMachine.Current;
        if (state.Members.TryGetValue(_options.NodeId, out var registered) && registered.Equals(_self))
        {
            return;
        }

        if (LeaderApiAddress(out var leaderIsSelf) is null && !leaderIsSelf)
        {
            return;
        }

        LogMessages.RegisteringMember(_logger, $"{_self.NodeId} raft {_self.RaftAddress}, postgres {_self.PostgresAddress}, proxy {_self.ProxyAddress}, api {_self.ApiAddress}");
        ClusterCommand command = registered is null ? new AddMember(_self) : new UpdateMember(_self);
        await ProposeThroughLeaderAsync(command, cancellationToken);
    }

    private Task PublishRoutingOnceAsync(CancellationToken cancellationToken)
    {
        var next = ProxyRouting.Compute(_stateMachine.Current, _leaderContact.Observe(_raft.LeaderId, _clock.Now), _health);
        var current = _routing.Current;
        if (!ProxyRouting.SameRouting(next, current))
        {
            if (next.ReadWriteTarget != current.ReadWriteTarget)
            {
                LogMessages.ReadWriteRouteChanged(_logger, next.ReadWriteTarget?.ToString() ?? "nothing (holding new clients)", ProxyRouting.Describe(next, _stateMachine.Current.View.Primary));
            }

            _routing.Publish(next);
        }

        return Task.CompletedTask;
    }

    private LocalHealth Health()
    {
        var state = _stateMachine.Current;
        var local = _keeper.Local;
        var holdsLease = _lease.HoldsLease;
        var description = !local.Initialized ? "uninitialized" : local.Running ? "running" : "stopped";
        var lag = _health?.FirstOrDefault(h => h.NodeId == _options.NodeId) is { Role: PgRole.Standby, LagBytes: >= 0 and < long.MaxValue } own ? own.LagBytes : (long?)null;
        return new LocalHealth(_options.NodeId, local.Running, local.Role, holdsLease, state.View.Primary == _options.NodeId, lag, description)
        {
            Accepting = local.Running && _keeper.Accepting,
            InSyncSet = state.View.Sync.Standbys.Contains(_options.NodeId),
            NoLoadBalance = _self.Tags.NoLoadBalance,
        };
    }

    /// <summary>The API's view of this runtime.</summary>
    private sealed class ControlPlane(NodeRuntime runtime) : IControlPlane
    {
        public Task<ReportAck> AcceptReportAsync(KeeperReport report, CancellationToken cancellationToken) => runtime.AcceptReportAsync(report, cancellationToken);

        public Task<LeaseResponse> GrantLeaseAsync(LeaseRequest request, CancellationToken cancellationToken) => runtime.GrantLeaseAsync(request, cancellationToken);

        public Task<MembershipResult> ChangeMembershipAsync(MembershipChange change, CancellationToken cancellationToken) => runtime.ChangeMembershipAsync(change, cancellationToken);

        public Task<CommandResult> ProposeAsync(ClusterCommand command, CancellationToken cancellationToken)
        {
            runtime.RequireLeader();
            if (runtime.RefuseNonMember(command) is { } refusal)
            {
                return Task.FromResult(refusal);
            }

            // Timeouts of operator requests run on the leader's wall clock, so the leader stamps them.
            var now = runtime._time.GetUtcNow();
            command = command switch
            {
                RequestSwitchover switchover => switchover with { RequestedAt = now },
                RequestFailover failover => failover with { RequestedAt = now },
                RequestNodeOperation operation => operation with { RequestedAt = now },
                _ => command,
            };

            return runtime.ProposeLocallyAsync(command, cancellationToken);
        }

        public LocalHealth Health => runtime.Health();

        public ClusterState ClusterState => runtime._stateMachine.Current;

        public ClusterNodes Nodes
        {
            get
            {
                var membership = runtime._raft.Membership;
                return new(runtime._raft.LeaderId, runtime._health ?? [], runtime._sentinel, [.. membership.Voters], [.. membership.Learners]);
            }
        }

        public NodeMetrics Metrics => new(
            runtime._options.NodeId,
            runtime._raft.Term,
            runtime._raft.LeaderId,
            runtime._raft.CommitIndex,
            runtime._raft.AppliedIndex,
            runtime._stateMachine.Current,
            runtime.Health(),
            runtime._keeper.Local,
            Nodes,
            [new ProxyPortCounters("read-write", runtime._readWrite.Counters), new ProxyPortCounters("read-only", runtime._readOnly.Counters)]);
    }
}

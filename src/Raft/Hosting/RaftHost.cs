using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Net;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;
using PgRaft.Raft.Transport;

namespace PgRaft.Raft.Hosting;

/// <summary>
/// Runs one Raft node: a single event loop owns the core and feeds it ticks (from <see cref="TimeProvider"/>), peer
/// messages, proposals, reads and membership changes; after each batch it handles the core's Ready in the order the
/// contract requires (persist and fsync, send, restore/apply, advance). The state machine is in memory: on start it is
/// restored from the newest snapshot and the committed log is applied again.
/// </summary>
public sealed partial class RaftHost : IAsyncDisposable
{
    private const int MaxEventsPerBatch = 4096;

    private readonly RaftHostOptions _options;
    private readonly IRaftStorage _storage;
    private readonly IRaftTransport _transport;
    private readonly IStateMachine _stateMachine;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<PersistedState, IRaftNode> _coreFactory;
    private readonly Channel<HostEvent> _events = Channel.CreateUnbounded<HostEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();

    // Owned by the event loop only.
    private readonly Dictionary<long, PendingProposal> _pendingProposals = [];
    private readonly Dictionary<long, TaskCompletionSource<long>> _readsAwaitingIndex = [];
    private readonly List<(long Index, TaskCompletionSource<long> Completion)> _readsAwaitingApply = [];
    private readonly List<TaskCompletionSource<long>> _readsDeferred = [];
    private ImmutableDictionary<string, string> _addressBook = ImmutableDictionary.Create<string, string>(StringComparer.Ordinal);
    private IRaftNode? _core;
    private long _appliedIndex;
    private long _nextReadId;

    private volatile HostStatus _status = new(new SoftState(RaftRole.Follower, 0, null), 0, 0, Membership.Of());
    private volatile Exception? _fatal;
    private Task? _loop;
    private Task? _pump;
    private Task? _ticker;
    private int _tickQueued;
    private int _state; // 0 new, 1 running, 2 stopping/stopped

    internal RaftHost(
        RaftHostOptions options,
        IRaftStorage storage,
        IRaftTransport transport,
        IStateMachine stateMachine,
        ILogger logger,
        TimeProvider timeProvider,
        Func<PersistedState, IRaftNode> coreFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _storage = storage;
        _transport = transport;
        _stateMachine = stateMachine;
        _logger = logger;
        _time = timeProvider;
        _coreFactory = coreFactory;
    }

    /// <summary>Raised on the host's loop when role, term or leader change. Handlers must be quick and must not block.</summary>
    public event EventHandler<SoftState>? SoftStateChanged;

    /// <summary>Raised once, from the host's loop, when a storage or core failure stopped the node (see <see cref="Fault"/>).</summary>
    public event EventHandler<Exception>? Faulted;

    /// <summary>The failure that stopped the node's loop, or null. A faulted node must be stopped and restarted after fixing the cause.</summary>
    public Exception? Fault => _fatal;

    public string NodeId => _options.NodeId;

    public SoftState SoftState => _status.SoftState;

    public RaftRole Role => _status.SoftState.Role;

    public long Term => _status.SoftState.Term;

    public string? LeaderId => _status.SoftState.Leader;

    public bool IsLeader => _status.SoftState.Role == RaftRole.Leader;

    public long CommitIndex => _status.CommitIndex;

    public long AppliedIndex => _status.AppliedIndex;

    /// <summary>Voters and learners in effect (may include a change not yet committed).</summary>
    public Membership Membership => _status.Membership;

    /// <summary>Where each member listens (id to "host:port"), as replicated through the log and snapshots.</summary>
    public IReadOnlyDictionary<string, string> AddressBook => Volatile.Read(ref _addressBook);

    /// <summary>Loads (or bootstraps) durable state, starts the transport, the loop and the timer.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("RaftHost.StartAsync may be called once.");
        }

        var persisted = _storage.Load();
        if (persisted.Snapshot is null && persisted.Entries.Count == 0 && persisted.HardState == HardState.Empty
            && _options.InitialMembers.ContainsKey(_options.NodeId))
        {
            var book = _options.InitialMembers.ToImmutableDictionary(StringComparer.Ordinal);
            var bootstrap = new Snapshot(
                new SnapshotMetadata(0, 0, Membership.Of([.. _options.InitialMembers.Keys])),
                HostFormat.Snapshot(book, []));
            _storage.InstallSnapshot(bootstrap);
            persisted = persisted with { Snapshot = bootstrap };
            _logger.Bootstrapped(_options.NodeId, string.Join(",", book.Keys.Order(StringComparer.Ordinal)));
        }

        var seeds = _options.InitialMembers.ToImmutableDictionary(StringComparer.Ordinal)
            .SetItem(_options.NodeId, _options.EffectiveAdvertisedAddress);
        _addressBook = seeds;
        if (persisted.Snapshot is { } snapshot)
        {
            var (book, stateMachineData) = HostFormat.ReadSnapshot(snapshot.Data);
            _addressBook = seeds.SetItems(book);
            if (snapshot.Metadata.Index > 0)
            {
                _stateMachine.Restore(stateMachineData.Span);
            }

            _appliedIndex = snapshot.Metadata.Index;
        }

        _core = _coreFactory(persisted);
        PushPeersToTransport();
        await _transport.StartAsync(cancellationToken);
        PublishStatus();
        _logger.HostStarted(_options.NodeId, _appliedIndex, persisted.Entries.Count, persisted.HardState.Term);

        _loop = Task.Run(RunLoopAsync, CancellationToken.None);
        _pump = Task.Run(() => PumpIncomingAsync(_stopping.Token), CancellationToken.None);
        _ticker = Task.Run(() => TickAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>
    /// Replicates <paramref name="command"/>; completes with the state machine's result once the entry committed and was
    /// applied here at the index and term the leader gave it. Throws <see cref="NotLeaderException"/> when this node is not
    /// leader or the entry was superseded by another leader's.
    /// </summary>
    public Task<object?> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken)
    {
        // An entry that cannot fit in one peer frame could never replicate and would stall the log behind it.
        if (command.Length > MaxCommandBytes)
        {
            throw new ArgumentException(
                $"Command of {command.Length} bytes is larger than {MaxCommandBytes} bytes, half of RaftHostOptions.MaxFrameBytes ({_options.MaxFrameBytes}).",
                nameof(command));
        }

        return SubmitAsync<object?>(completion => new ProposeEvent(HostFormat.UserCommand(command.Span), completion), cancellationToken);
    }

    private int MaxCommandBytes => _options.MaxFrameBytes / 2;

    /// <summary>Completes with a read index once a linearizable read is safe here (that index applied). Leader only.</summary>
    public Task<long> ReadIndexAsync(CancellationToken cancellationToken) =>
        SubmitAsync<long>(completion => new ReadEvent(completion), cancellationToken);

    /// <summary>Records <paramref name="address"/> in the replicated address book, then adds <paramref name="nodeId"/> as a learner. Leader only.</summary>
    public async Task AddLearnerAsync(string nodeId, string address, CancellationToken cancellationToken)
    {
        RaftHostOptions.ValidateNodeId(nodeId, "nodeId");
        _ = EndPointParser.Parse(address, nameof(address));
        await SubmitAsync<object?>(completion => new ProposeEvent(HostFormat.AddressUpdate(nodeId, address), completion), cancellationToken);
        await ChangeMembershipAsync(new ConfigChange(ConfigChangeKind.AddLearner, nodeId), retryWhileCatchingUp: false, cancellationToken);
    }

    /// <summary>Promotes a learner to voter, waiting (until cancelled) while it is still catching up. Leader only.</summary>
    public Task PromoteLearnerAsync(string nodeId, CancellationToken cancellationToken)
    {
        if (!Membership.Learners.Contains(nodeId))
        {
            throw new ArgumentException($"'{nodeId}' is not a learner of this cluster; add it with AddLearnerAsync first.", nameof(nodeId));
        }

        return ChangeMembershipAsync(new ConfigChange(ConfigChangeKind.PromoteLearner, nodeId), retryWhileCatchingUp: true, cancellationToken);
    }

    /// <summary>Removes a voter or learner (the leader itself included), then drops its address. Leader only.</summary>
    public async Task RemoveMemberAsync(string nodeId, CancellationToken cancellationToken)
    {
        if (!Membership.Contains(nodeId))
        {
            throw new ArgumentException($"'{nodeId}' is not a member of this cluster.", nameof(nodeId));
        }

        await ChangeMembershipAsync(new ConfigChange(ConfigChangeKind.Remove, nodeId), retryWhileCatchingUp: false, cancellationToken);
        if (IsLeader && !string.Equals(nodeId, _options.NodeId, StringComparison.Ordinal))
        {
            try
            {
                await SubmitAsync<object?>(completion => new ProposeEvent(HostFormat.AddressUpdate(nodeId, ""), completion), cancellationToken);
            }
            catch (NotLeaderException)
            {
                // A stale address is harmless: nobody dials a non-member for long.
            }
        }
    }

    /// <summary>On the leader, its view of every other member (matched index, learner, recently active); empty elsewhere.</summary>
    public Task<IReadOnlyList<FollowerStatus>> GetFollowersAsync(CancellationToken cancellationToken) =>
        SubmitAsync<IReadOnlyList<FollowerStatus>>(completion => new InvokeEvent<IReadOnlyList<FollowerStatus>>(() => _core!.Followers(), completion), cancellationToken);

    /// <summary>Asks the leader (this node) to hand leadership to <paramref name="target"/>; true when the transfer started.</summary>
    public Task<bool> TransferLeadershipAsync(string target, CancellationToken cancellationToken) =>
        SubmitAsync<bool>(completion => new TransferEvent(target, completion), cancellationToken);

    /// <summary>
    /// Stops the node. A leader first hands leadership to the most caught-up voter and waits for that (at most
    /// <see cref="RaftHostOptions.ShutdownTransferTimeout"/>); then the timer, loop, transport and storage stop.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken) => StopAsync(transferLeadership: true, cancellationToken);

    /// <summary>Stops; without <paramref name="transferLeadership"/> it is as abrupt as a crash for the peers (tests use it).</summary>
    internal async Task StopAsync(bool transferLeadership, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1)
        {
            return;
        }

        if (transferLeadership && IsLeader && _fatal is null && _options.ShutdownTransferTimeout > TimeSpan.Zero)
        {
            await TransferBeforeStopAsync(cancellationToken);
        }

        await _stopping.CancelAsync();
        _events.Writer.TryComplete();
        await Task.WhenAll(_ticker ?? Task.CompletedTask, _pump ?? Task.CompletedTask, _loop ?? Task.CompletedTask);
        await _transport.DisposeAsync();
        _storage.Dispose();
        _logger.HostStopped(_options.NodeId);
    }

    public async ValueTask DisposeAsync()
    {
        if (_state == 0)
        {
            _state = 2;
            await _transport.DisposeAsync();
            _storage.Dispose();
        }
        else
        {
            await StopAsync(CancellationToken.None);
        }

        _stopping.Dispose();
    }

    private async Task TransferBeforeStopAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ShutdownTransferTimeout);
        try
        {
            var target = await SubmitAsync<string?>(completion => new InvokeEvent<string?>(ChooseTransferTarget, completion), timeout.Token, allowWhileStopping: true);
            if (target is null)
            {
                return;
            }

            _logger.TransferOnShutdown(_options.NodeId, target);
            var started = await SubmitAsync<bool>(completion => new TransferEvent(target, completion), timeout.Token, allowWhileStopping: true);
            // Done when another node is known to lead (stepping down alone leaves a gap until its vote completes).
            while (started && (IsLeader || LeaderId is null))
            {
                await Task.Delay(_options.TickInterval, _time, timeout.Token);
            }

            _logger.TransferOnShutdownDone(_options.NodeId, LeaderId);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _logger.TransferOnShutdownTimedOut(_options.NodeId, _options.ShutdownTransferTimeout.TotalMilliseconds);
        }
    }

    private string? ChooseTransferTarget()
    {
        // The most caught-up voter (highest matched index), preferring one heard from recently.
        var voters = _core!.Membership.Voters;
        return _core.Followers()
            .Where(f => !f.IsLearner && voters.Contains(f.Id) && !string.Equals(f.Id, _options.NodeId, StringComparison.Ordinal))
            .OrderByDescending(f => f.RecentlyActive)
            .ThenByDescending(f => f.Match)
            .ThenBy(f => f.Id, StringComparer.Ordinal)
            .Select(f => f.Id)
            .FirstOrDefault();
    }

    private async Task ChangeMembershipAsync(ConfigChange change, bool retryWhileCatchingUp, CancellationToken cancellationToken)
    {
        while (true)
        {
            var (result, _) = await SubmitAsync<(ProposeResult, object?)>(completion => new ConfigChangeEvent(change, completion), cancellationToken);
            switch (result)
            {
                case ProposeResult.Accepted:
                    return;
                case ProposeResult.ConfigChangePending:
                case ProposeResult.InvalidConfigChange when retryWhileCatchingUp && Membership.Learners.Contains(change.NodeId):
                    await Task.Delay(_options.TickInterval * 2, _time, cancellationToken);
                    break;
                case ProposeResult.InvalidConfigChange:
                    throw new InvalidOperationException($"Membership change {change.Kind} of '{change.NodeId}' does not apply to the current membership ({Describe(Membership)}).");
                default:
                    throw NotLeader(result);
            }
        }
    }

    private static string Describe(Membership membership) =>
        $"voters: {string.Join(",", membership.Voters)}; learners: {string.Join(",", membership.Learners)}";

    private Exception NotLeader(ProposeResult result) => result == ProposeResult.TransferInProgress
        ? new NotLeaderException(LeaderId, "Leadership is being transferred.")
        : new NotLeaderException(IsLeader ? null : LeaderId);

    private async Task<T> SubmitAsync<T>(Func<TaskCompletionSource<T>, HostEvent> create, CancellationToken cancellationToken, bool allowWhileStopping = false)
    {
        if (_fatal is { } fatal)
        {
            throw new InvalidOperationException($"The Raft host of '{_options.NodeId}' stopped after a fatal error: {fatal.Message}", fatal);
        }

        if (_state != 1 && !(allowWhileStopping && _state == 2 && !_stopping.IsCancellationRequested))
        {
            throw new ObjectDisposedException(nameof(RaftHost), _state == 0 ? "The Raft host is not started." : "The Raft host is stopping or stopped.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_events.Writer.TryWrite(create(completion)))
        {
            throw new ObjectDisposedException(nameof(RaftHost), "The Raft host is stopping or stopped.");
        }

        await using var registration = cancellationToken.Register(() => completion.TrySetCanceled(cancellationToken));
        return await completion.Task;
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.TickInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                // Coalesce: a slow loop (a long fsync) gets one tick, not a burst that would fire elections.
                if (Interlocked.Exchange(ref _tickQueued, 1) == 0)
                {
                    _events.Writer.TryWrite(TickEvent.Instance);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task PumpIncomingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in _transport.Incoming.ReadAllAsync(cancellationToken))
            {
                if (!_events.Writer.TryWrite(new IncomingEvent(message)))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RunLoopAsync()
    {
        var reader = _events.Reader;
        try
        {
            while (await reader.WaitToReadAsync())
            {
                var handled = 0;
                while (handled++ < MaxEventsPerBatch && reader.TryRead(out var hostEvent))
                {
                    Handle(hostEvent);
                }

                RetryDeferredReads();
                while (_core!.HasReady())
                {
                    HandleReady(_core.GetReady());
                }

                PublishStatus();
            }
        }
        catch (Exception e)
        {
            // Storage or state-machine failure: the core's view may now be ahead of the disk. Stop, keep what is stored.
            _fatal = e;
            _logger.HostFatal(e, _options.NodeId, e.Message);
            _events.Writer.TryComplete();
            await _stopping.CancelAsync();
            try
            {
                Faulted?.Invoke(this, e);
            }
            catch (Exception observerError)
            {
                _logger.ObserverFailed(observerError, _options.NodeId);
            }
        }

        FailAllPending(_fatal is { } fatal
            ? new InvalidOperationException($"The Raft host of '{_options.NodeId}' stopped after a fatal error: {fatal.Message}", fatal)
            : new ObjectDisposedException(nameof(RaftHost), "The Raft host stopped before the operation completed; a proposal may still commit."));
    }

    private void Handle(HostEvent hostEvent)
    {
        var core = _core!;
        switch (hostEvent)
        {
            case TickEvent:
                Interlocked.Exchange(ref _tickQueued, 0);
                core.Tick();
                break;
            case IncomingEvent { Message: var message }:
                core.Step(message);
                break;
            case ProposeEvent propose:
                var (result, index, term) = core.Propose(propose.Data);
                if (result == ProposeResult.Accepted)
                {
                    _pendingProposals[index] = new PendingProposal(term, propose.Completion, null);
                }
                else
                {
                    propose.Completion.TrySetException(NotLeader(result));
                }

                break;
            case ConfigChangeEvent change:
                var (changeResult, changeIndex, changeTerm) = core.ProposeConfigChange(change.Change);
                if (changeResult == ProposeResult.Accepted)
                {
                    _pendingProposals[changeIndex] = new PendingProposal(changeTerm, null, change.Completion);
                }
                else
                {
                    change.Completion.TrySetResult((changeResult, null));
                }

                break;
            case ReadEvent read:
                StartRead(read.Completion);
                break;
            case TransferEvent transfer:
                transfer.Completion.TrySetResult(core.TransferLeadership(transfer.Target));
                break;
            case IInvokeEvent invoke:
                invoke.Run();
                break;
        }
    }

    private void StartRead(TaskCompletionSource<long> completion)
    {
        var core = _core!;
        var readId = ++_nextReadId;
        var context = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(context, readId);
        if (core.ReadIndex(context))
        {
            _readsAwaitingIndex[readId] = completion;
        }
        else if (core.SoftState.Role == RaftRole.Leader)
        {
            // A new leader serves reads only once an entry of its term committed (its no-op): retry then.
            _readsDeferred.Add(completion);
        }
        else
        {
            completion.TrySetException(new NotLeaderException(core.SoftState.Leader));
        }
    }

    private void RetryDeferredReads()
    {
        if (_readsDeferred.Count == 0)
        {
            return;
        }

        var deferred = _readsDeferred.ToArray();
        _readsDeferred.Clear();
        foreach (var completion in deferred.Where(c => !c.Task.IsCompleted))
        {
            StartRead(completion);
        }
    }

    private void HandleReady(Ready ready)
    {
        if (ready.Snapshot is not null || ready.EntriesToPersist.Count > 0 || ready.HardState is not null)
        {
            _storage.Persist(ready.Snapshot, ready.EntriesToPersist, ready.HardState);
        }

        foreach (var message in ready.Messages)
        {
            _transport.Send(message);
        }

        if (ready.Snapshot is { } snapshot)
        {
            RestoreSnapshot(snapshot);
        }

        foreach (var entry in ready.CommittedEntries)
        {
            Apply(entry);
        }

        foreach (var readState in ready.ReadStates)
        {
            if (readState.Context.Length == 8
                && _readsAwaitingIndex.Remove(BinaryPrimitives.ReadInt64LittleEndian(readState.Context.Span), out var completion))
            {
                _readsAwaitingApply.Add((readState.Index, completion));
            }
        }

        if (ready.SoftState is { } softState)
        {
            OnSoftStateChanged(softState);
        }

        _core!.Advance(ready);
        CompleteReads();
        MaybeCompact();
    }

    private void RestoreSnapshot(Snapshot snapshot)
    {
        var (book, stateMachineData) = HostFormat.ReadSnapshot(snapshot.Data);
        // A leader that has not compacted yet sends its bootstrap snapshot (index 0): membership and addresses, no state
        // machine data; the joiner's state machine is at its initial state already (as at StartAsync).
        if (snapshot.Metadata.Index > 0)
        {
            _stateMachine.Restore(stateMachineData.Span);
        }

        _appliedIndex = snapshot.Metadata.Index;
        if (!book.IsEmpty)
        {
            Volatile.Write(ref _addressBook, book.SetItem(_options.NodeId, _options.EffectiveAdvertisedAddress));
            PushPeersToTransport();
        }

        foreach (var index in _pendingProposals.Keys.Where(i => i <= snapshot.Metadata.Index).ToList())
        {
            _pendingProposals.Remove(index, out var pending);
            pending.Fail(new ProposalOutcomeUnknownException(index));
        }

        _logger.SnapshotRestored(_options.NodeId, snapshot.Metadata.Index, snapshot.Metadata.Term);
    }

    private void Apply(LogEntry entry)
    {
        object? result = null;
        Exception? failure = null;
        if (entry.Kind == EntryKind.Command && !entry.Data.IsEmpty)
        {
            switch (entry.Data.Span[0])
            {
                case HostFormat.UserCommandTag:
                    try
                    {
                        result = _stateMachine.Apply(entry.Index, entry.Data.Span[1..]);
                    }
                    catch (Exception e)
                    {
                        // Deterministic state machines fail the same way everywhere; report it and go on.
                        _logger.ApplyFailed(e, _options.NodeId, entry.Index);
                        failure = e;
                    }

                    break;
                case HostFormat.AddressTag:
                    var (id, address) = HostFormat.DecodeAddressUpdate(entry.Data);
                    if (!string.Equals(id, _options.NodeId, StringComparison.Ordinal))
                    {
                        Volatile.Write(ref _addressBook, address.Length == 0 ? _addressBook.Remove(id) : _addressBook.SetItem(id, address));
                        PushPeersToTransport();
                    }

                    _logger.AddressBookUpdated(_options.NodeId, id, address);
                    break;
                default:
                    _logger.UnknownEntryTag(_options.NodeId, entry.Index, entry.Data.Span[0]);
                    break;
            }
        }
        else if (entry.Kind == EntryKind.ConfigChange)
        {
            _logger.MembershipChangeApplied(_options.NodeId, entry.Index, Describe(_core!.Membership));
        }

        _appliedIndex = entry.Index;
        if (_pendingProposals.Remove(entry.Index, out var pending))
        {
            if (pending.Term != entry.Term)
            {
                pending.Fail(new NotLeaderException(_core!.SoftState.Leader, $"The proposal at index {entry.Index} was superseded by another leader's entry and did not commit."));
            }
            else if (failure is not null)
            {
                pending.Fail(failure);
            }
            else
            {
                pending.Complete(result);
            }
        }
    }

    private void OnSoftStateChanged(SoftState softState)
    {
        var wasLeader = _status.SoftState.Role == RaftRole.Leader;
        _status = _status with { SoftState = softState };
        _logger.SoftStateChanged(_options.NodeId, softState.Role, softState.Term, softState.Leader);
        if (wasLeader && softState.Role != RaftRole.Leader)
        {
            // Reads that were not confirmed by a quorum are not safe any more. Proposals stay pending: they may still commit.
            foreach (var completion in _readsAwaitingIndex.Values)
            {
                completion.TrySetException(new NotLeaderException(softState.Leader, "Leadership was lost before the read was confirmed."));
            }

            _readsAwaitingIndex.Clear();
            foreach (var completion in _readsDeferred)
            {
                completion.TrySetException(new NotLeaderException(softState.Leader, "Leadership was lost before the read was confirmed."));
            }

            _readsDeferred.Clear();
        }

        try
        {
            SoftStateChanged?.Invoke(this, softState);
        }
        catch (Exception e)
        {
            _logger.ObserverFailed(e, _options.NodeId);
        }
    }

    private void CompleteReads()
    {
        for (var i = _readsAwaitingApply.Count - 1; i >= 0; i--)
        {
            var (index, completion) = _readsAwaitingApply[i];
            if (index <= _appliedIndex)
            {
                completion.TrySetResult(index);
                _readsAwaitingApply.RemoveAt(i);
            }
        }
    }

    private void MaybeCompact()
    {
        var core = _core!;
        var snapshotIndex = core.Snapshot?.Metadata.Index ?? 0;
        var applied = Math.Min(_appliedIndex, core.AppliedIndex);
        if (core.Snapshot is null || applied - snapshotIndex < _options.SnapshotThreshold)
        {
            return;
        }

        var data = HostFormat.Snapshot(_addressBook, _stateMachine.TakeSnapshot());
        core.Compact(applied, data);
        _storage.InstallSnapshot(core.Snapshot!);
        _logger.SnapshotTaken(_options.NodeId, applied, data.Length);
    }

    private void PublishStatus()
    {
        var core = _core!;
        _status = new HostStatus(core.SoftState, core.CommitIndex, _appliedIndex, core.Membership);
    }

    private void PushPeersToTransport()
    {
        var peers = new Dictionary<string, EndPoint>(StringComparer.Ordinal);
        foreach (var (id, address) in _addressBook)
        {
            if (string.Equals(id, _options.NodeId, StringComparison.Ordinal))
            {
                continue;
            }

            try
            {
                peers[id] = EndPointParser.Parse(address, "address book");
            }
            catch (ArgumentException)
            {
                _logger.BadPeerAddress(_options.NodeId, id, address);
            }
        }

        _transport.UpdatePeers(peers);
    }

    private void FailAllPending(Exception error)
    {
        foreach (var pending in _pendingProposals.Values)
        {
            pending.Fail(error);
        }

        _pendingProposals.Clear();
        foreach (var completion in _readsAwaitingIndex.Values)
        {
            completion.TrySetException(error);
        }

        _readsAwaitingIndex.Clear();
        foreach (var (_, completion) in _readsAwaitingApply)
        {
            completion.TrySetException(error);
        }

        _readsAwaitingApply.Clear();
        foreach (var completion in _readsDeferred)
        {
            completion.TrySetException(error);
        }

        _readsDeferred.Clear();
        while (_events.Reader.TryRead(out var leftover))
        {
            leftover.Fail(error);
        }
    }

    private sealed record HostStatus(SoftState SoftState, long CommitIndex, long AppliedIndex, Membership Membership);

    private readonly record struct PendingProposal(
        long Term, TaskCompletionSource<object?>? Command, TaskCompletionSource<(ProposeResult, object?)>? ConfigChange)
    {
        public void Complete(object? result)
        {
            Command?.TrySetResult(result);
            ConfigChange?.TrySetResult((ProposeResult.Accepted, result));
        }

        public void Fail(Exception error)
        {
            Command?.TrySetException(error);
            ConfigChange?.TrySetException(error);
        }
    }

    private abstract record HostEvent
    {
        public virtual void Fail(Exception error)
        {
        }
    }

    private sealed record TickEvent : HostEvent
    {
        public static readonly TickEvent Instance = new();
    }

    private sealed record IncomingEvent(RaftMessage Message) : HostEvent;

    private sealed record ProposeEvent(byte[] Data, TaskCompletionSource<object?> Completion) : HostEvent
    {
        public override void Fail(Exception error) => Completion.TrySetException(error);
    }

    private sealed record ConfigChangeEvent(ConfigChange Change, TaskCompletionSource<(ProposeResult, object?)> Completion) : HostEvent
    {
        public override void Fail(Exception error) => Completion.TrySetException(error);
    }

    private sealed record ReadEvent(TaskCompletionSource<long> Completion) : HostEvent
    {
        public override void Fail(Exception error) => Completion.TrySetException(error);
    }

    private sealed record TransferEvent(string Target, TaskCompletionSource<bool> Completion) : HostEvent
    {
        public override void Fail(Exception error) => Completion.TrySetException(error);
    }

    private interface IInvokeEvent
    {
        void Run();
    }

    private sealed record InvokeEvent<T>(Func<T> Function, TaskCompletionSource<T> Completion) : HostEvent, IInvokeEvent
    {
        public void Run()
        {
            try
            {
                Completion.TrySetResult(Function());
            }
            catch (Exception e)
            {
                Completion.TrySetException(e);
            }
        }

        public override void Fail(Exception error) => Completion.TrySetException(error);
    }
}

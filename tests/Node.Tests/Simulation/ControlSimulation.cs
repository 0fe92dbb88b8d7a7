using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using PgRaft.Node.Cluster;
using PgRaft.Raft.Core;

namespace PgRaft.Node.Tests.Simulation;

internal sealed class ControlSimFailureException(string message) : Exception(message);

internal sealed record ControlSimResult(
    int Steps, double HealSeconds, int Acknowledged, int Written, int Failovers, int Switchovers, int Faults, IReadOnlyDictionary<string, int> Events);

/// <summary>
/// The whole control plane in simulation (issue 5): every node runs a real <see cref="RaftCore"/> and
/// <see cref="ClusterStateMachine"/>, the real keeper planner, lease keeper, leader duties, lease rule and sentinel
/// (wired as <c>NodeRuntime</c> wires them) over a simulated PostgreSQL, clocks with bounded drift and a network
/// with delay, loss, reordering and partitions; faults crash nodes, pause pgraft (its guard still fences) and kill
/// PostgreSQL. Invariants are checked at every step; a failure names the seed, the step and the last events.
/// </summary>
internal sealed class ControlSimulation
{
    private const int TraceLength = 60;

    private readonly Random _random;
    private readonly List<ControlNode> _nodes = [];
    private readonly Dictionary<string, ControlNode> _byId = new(StringComparer.Ordinal);
    private readonly List<Envelope> _inFlight = [];
    private readonly Dictionary<(string From, string To), long> _blockedUntil = [];
    private readonly Dictionary<long, (long Generation, string? Primary)> _appliedAt = [];
    private readonly HashSet<long> _timelineSwitches = [];
    private readonly List<(string NodeId, int Index, long Record)> _pending = [];
    private readonly List<(string NodeId, int Index, long Record, long Step)> _acknowledged = [];
    private readonly HashSet<string> _writableBefore = new(StringComparer.Ordinal);
    private readonly Queue<string> _trace = new();
    private readonly Dictionary<string, int> _events = new(StringComparer.Ordinal);
    private long _step;
    private long _nextSequence;
    private long _nextRecord = 1;
    private long _nextId = 1;
    private int _written;
    private int _faults;
    private string _phase = "chaos";

    public ControlSimulation(ControlSimParameters parameters)
    {
        Parameters = parameters;
        _random = new Random(parameters.Seed);
        var ids = Enumerable.Range(1, parameters.Nodes).Select(i => $"n{i}").ToArray();
        var initial = ClusterState.Empty with { Spec = parameters.Spec };
        var bootstrap = new Snapshot(new SnapshotMetadata(0, 0, Membership.Of(ids)), ClusterSnapshot.Encode(0, initial));
        foreach (var id in ids)
        {
            var drift = parameters.DriftPermille / 1000.0 * ((_random.NextDouble() * 2) - 1);
            var clock = new SimClock(() => Now, 1 + drift, TimeSpan.FromSeconds(_random.Next(1, 100_000)), TimeSpan.FromMilliseconds(_random.Next(-200, 201)));
            var node = new ControlNode(this, id, clock, bootstrap);
            _nodes.Add(node);
            _byId[id] = node;
        }
    }

    public ControlSimParameters Parameters { get; }

    public TimeSpan Now => ControlSimParameters.Step * _step;

    public static ControlSimResult Run(ControlSimParameters parameters) => new ControlSimulation(parameters).Run();

    public ControlSimResult Run()
    {
        try
        {
            var faultSteps = (long)(TimeSpan.FromSeconds(Parameters.FaultSeconds) / ControlSimParameters.Step);
            while (_step < faultSteps)
            {
                InjectFaults();
                Step();
            }

            _phase = "heal";
            HealAll();
            var healStart = _step;
            var budget = (long)(ControlSimParameters.HealBudget / ControlSimParameters.Step);
            while (!Converged(out _))
            {
                if (_step - healStart > budget)
                {
                    Converged(out var why);
                    Fail($"invariant 4 (convergence): not converged {ControlSimParameters.HealBudget.TotalSeconds} s after healing every fault: {why}");
                }

                Step();
            }

            return new ControlSimResult(
                (int)_step,
                (_step - healStart) * ControlSimParameters.Step.TotalSeconds,
                _acknowledged.Count,
                _written,
                _events.GetValueOrDefault("sentinel FailingOver"),
                _events.GetValueOrDefault("sentinel Switchover"),
                _faults,
                _events);
        }
        catch (Exception ex) when (ex is not ControlSimFailureException)
        {
            Fail($"exception {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
            throw; // unreachable
        }
    }

    // ---- services for the nodes --------------------------------------------------------------------------------

    public int NextSeed() => _random.Next();

    public double NextDouble() => _random.NextDouble();

    public long NextId() => _nextId++;

    public ulong NewSystemIdentifier() => 7_000_000_000_000_000_000UL + (ulong)_random.Next(1, int.MaxValue);

    public long NewRecord(bool timelineSwitch)
    {
        var record = _nextRecord++;
        if (timelineSwitch)
        {
            _timelineSwitches.Add(record);
        }

        return record;
    }

    public void CountEvent(string what, string? detail = null)
    {
        _events[what] = _events.GetValueOrDefault(what) + 1;
        Trace(detail is null ? what : $"{what}: {detail}");
    }

    public void Send(string from, string to, SimPayload payload)
    {
        if (from != to)
        {
            if (IsBlocked(from, to) || _random.Next(100) < Parameters.DropPercent)
            {
                return;
            }
        }

        var delaySteps = from == to ? 1 : 1 + _random.Next(Math.Max(1, Parameters.MaxDelayMs / (int)ControlSimParameters.Step.TotalMilliseconds));
        _inFlight.Add(new Envelope(_nextSequence++, from, to, _step + delaySteps, payload));
    }

    /// <summary>The PostgreSQL of <paramref name="target"/> when it runs and the network lets <paramref name="from"/> reach it.</summary>
    public SimPostgres? ReachablePostgres(string from, string target) =>
        _byId.TryGetValue(target, out var node) && node.Postgres.Running && Connected(from, target) ? node.Postgres : null;

    /// <summary>A clean shutdown sends the rest of the WAL to the standbys streaming from the node.</summary>
    public void FlushToStandbys(ControlNode primary)
    {
        foreach (var standby in _nodes)
        {
            var pg = standby.Postgres;
            if (standby != primary && pg.Running && pg.StandbySignal && pg.Conninfo == primary.Id && Connected(standby.Id, primary.Id))
            {
                pg.Receive(primary.Postgres, int.MaxValue, _timelineSwitches.Contains);
            }
        }
    }

    public void OnApplied(ControlNode node, long index, ClusterState before, ClusterState after)
    {
        foreach (var notice in after.RecentNotices.Where(n => n.Sequence > (before.LastNotice?.Sequence ?? 0) && !_appliedAt.ContainsKey(index)))
        {
            CountEvent(notice.Succeeded ? "operator request done" : "operator request ended without success", notice.Message);
        }

        if (after.View.Generation < before.View.Generation)
        {
            Fail($"invariant 3: {node.Id}'s view generation went from {before.View.Generation} down to {after.View.Generation} at log index {index}");
        }

        if (after.View.Primary != before.View.Primary)
        {
            var last = after.History.Count == before.History.Count + 1 ? after.History[^1] : null;
            if (last is null || last.Generation != after.View.Generation || last.OldPrimary != before.View.Primary || last.NewPrimary != after.View.Primary)
            {
                Fail($"invariant 3: the primary changed from {before.View.Primary} to {after.View.Primary} at generation {after.View.Generation} (log index {index}) without a matching history entry (last: {last})");
            }

            Trace($"{node.Id} applied view {after.View.Generation}: primary {after.View.Primary} ({last!.Reason})");
            if (last.Reason == ChangeReason.ManualFailover && !_appliedAt.ContainsKey(index))
            {
                CountEvent("manual failover", $"{before.View.Primary} -> {after.View.Primary}");
            }
        }

        var summary = (after.View.Generation, after.View.Primary);
        if (_appliedAt.TryGetValue(index, out var seen))
        {
            if (seen != summary)
            {
                Fail($"invariant 3: at log index {index} {node.Id} has view {summary}, another node applied {seen}");
            }
        }
        else
        {
            _appliedAt[index] = summary;
        }
    }

    // ---- the step ------------------------------------------------------------------------------------------------

    private void Step()
    {
        _step++;
        foreach (var node in _nodes)
        {
            if (node.Postgres.GuardCheck())
            {
                CountEvent("guard fenced", node.Id);
            }

            if (!node.Up && _phase == "chaos" && node.CrashedUntil <= _step)
            {
                node.Start();
                CountEvent("restart", node.Id);
            }
        }

        Deliver();
        foreach (var node in _nodes)
        {
            if (node.Process is { } process && !node.Paused)
            {
                process.RunLoops();
            }
        }

        Stream();
        Write();
        Acknowledge();
        CheckWritable();
    }

    private void Deliver()
    {
        if (_inFlight.Count == 0)
        {
            return;
        }

        var due = new List<Envelope>();
        for (var i = 0; i < _inFlight.Count; i++)
        {
            var envelope = _inFlight[i];
            if (envelope.DeliverAt <= _step && !_byId[envelope.To].Paused)
            {
                due.Add(envelope);
            }
        }

        if (due.Count == 0)
        {
            return;
        }

        _inFlight.RemoveAll(e => e.DeliverAt <= _step && !_byId[e.To].Paused);
        due.Sort((a, b) => a.DeliverAt != b.DeliverAt ? a.DeliverAt.CompareTo(b.DeliverAt) : a.Sequence.CompareTo(b.Sequence));
        foreach (var envelope in due)
        {
            var target = _byId[envelope.To];
            if (target.Process is not { } process || (envelope.From != envelope.To && IsBlocked(envelope.From, envelope.To)))
            {
                continue;
            }

            process.Receive(envelope.From, envelope.Payload);
        }
    }

    private void Stream()
    {
        foreach (var node in _nodes)
        {
            var pg = node.Postgres;
            pg.Streaming = pg is { Running: true, StandbySignal: true, Conninfo: { } conninfo } && conninfo != node.Id
                && _byId[conninfo].Postgres is { Running: true } source && Connected(node.Id, conninfo) && pg.CanStreamFrom(source);
            if (!pg.Running || !pg.StandbySignal || pg.Conninfo is not { } upstreamId || upstreamId == node.Id || _random.Next(2) == 0)
            {
                continue;
            }

            var upstream = _byId[upstreamId].Postgres;
            if (pg.Streaming && upstream.Wal.Count > pg.Wal.Count)
            {
                pg.Receive(upstream, 1 + _random.Next(4), _timelineSwitches.Contains);
            }
        }
    }

    private void Write()
    {
        if (_random.Next(4) != 0)
        {
            return;
        }

        foreach (var node in _nodes)
        {
            if (node.Postgres.Writable)
            {
                var record = NewRecord(timelineSwitch: false);
                node.Postgres.Append(record);
                _pending.Add((node.Id, node.Postgres.Wal.Count - 1, record));
                _written++;
            }
        }
    }

    private void Acknowledge()
    {
        for (var i = 0; i < _pending.Count; i++)
        {
            var (nodeId, index, record) = _pending[i];
            var pg = _byId[nodeId].Postgres;
            bool done;
            if (!pg.Writable)
            {
                done = true; // the client's connection broke: not acknowledged
            }
            else if (pg.EffectiveSync.IsAsync)
            {
                done = true;
                Acknowledged(nodeId, index, record);
            }
            else
            {
                var sync = pg.EffectiveSync;
                var confirmed = 0;
                foreach (var standbyId in sync.Standbys)
                {
                    if (_byId.TryGetValue(standbyId, out var standby) && standby.Postgres is { Running: true, StandbySignal: true } spg
                        && spg.Conninfo == nodeId && Connected(standbyId, nodeId) && spg.Wal.Count > index && spg.Wal[index] == record)
                    {
                        confirmed++;
                    }
                }

                done = confirmed >= Math.Min(sync.Quorum, sync.Standbys.Count);
                if (done)
                {
                    Acknowledged(nodeId, index, record);
                }
            }

            if (done)
            {
                _pending[i] = _pending[^1];
                _pending.RemoveAt(_pending.Count - 1);
                i--;
            }
        }
    }

    private void Acknowledged(string nodeId, int index, long record)
    {
        _acknowledged.Add((nodeId, index, record, _step));
        if (Parameters.Spec.IsSynchronous)
        {
            foreach (var node in _nodes.Where(n => n.Postgres.Writable))
            {
                CheckHolds(node, (nodeId, index, record, _step));
            }
        }
    }

    private void CheckHolds(ControlNode primary, (string NodeId, int Index, long Record, long Step) ack)
    {
        var wal = primary.Postgres.Wal;
        if (wal.Count <= ack.Index || wal[ack.Index] != ack.Record)
        {
            Fail($"invariant 2 ({Parameters.Mode}): {primary.Id} is writable but lacks record {ack.Record} at WAL position {ack.Index}, written on {ack.NodeId} and acknowledged at step {ack.Step}");
        }
    }

    private void CheckWritable()
    {
        var writable = _nodes.Where(n => n.Postgres.Writable).ToList();
        if (writable.Count > 1)
        {
            Fail($"invariant 1: {writable.Count} PostgreSQL servers are writable at once: {string.Join(", ", writable.Select(Describe))}");
        }

        foreach (var node in writable)
        {
            if (node.Postgres.GuardDeadline is null)
            {
                Fail($"invariant 1: {node.Id} is writable with no lease deadline at its guard");
            }

            if (!_writableBefore.Contains(node.Id))
            {
                Trace($"{node.Id} became writable on timeline {node.Postgres.Timeline} at {node.Postgres.Position}");
                if (Parameters.Spec.IsSynchronous)
                {
                    foreach (var ack in _acknowledged)
                    {
                        CheckHolds(node, ack);
                    }
                }
            }
        }

        _writableBefore.Clear();
        foreach (var node in writable)
        {
            _writableBefore.Add(node.Id);
        }
    }

    // ---- network -------------------------------------------------------------------------------------------------

    private bool IsBlocked(string from, string to) => _blockedUntil.TryGetValue((from, to), out var until) && until > _step;

    private bool Connected(string a, string b) => a == b || (!IsBlocked(a, b) && !IsBlocked(b, a));

    private void Block(string from, string to, long until)
    {
        if (from != to)
        {
            _blockedUntil[(from, to)] = Math.Max(until, _blockedUntil.GetValueOrDefault((from, to)));
        }
    }

    private void Isolate(string id, long until, bool inbound = true, bool outbound = true)
    {
        foreach (var other in _nodes)
        {
            if (outbound)
            {
                Block(id, other.Id, until);
            }

            if (inbound)
            {
                Block(other.Id, id, until);
            }
        }
    }

    // ---- faults --------------------------------------------------------------------------------------------------

    private long StepsOf(double seconds) => (long)(seconds / ControlSimParameters.Step.TotalSeconds);

    private long RandomDuration(double minSeconds, double maxSeconds) =>
        _step + StepsOf(minSeconds + (_random.NextDouble() * (maxSeconds - minSeconds)));

    private ControlNode? PrimaryNode() =>
        _nodes.FirstOrDefault(n => n.Postgres.Writable)
        ?? (Leader()?.Process!.StateMachine.Current.View.Primary is { } p ? _byId[p] : null);

    private ControlNode? Leader() =>
        _nodes.Where(n => n.Process is { } p && !n.Paused && p.Core.SoftState.Role == RaftRole.Leader)
            .OrderByDescending(n => n.Process!.Core.SoftState.Term)
            .FirstOrDefault();

    private ControlNode Pick(bool preferPrimary)
    {
        if (preferPrimary && _random.Next(2) == 0 && PrimaryNode() is { } primary)
        {
            return primary;
        }

        return _nodes[_random.Next(_nodes.Count)];
    }

    private void InjectFaults()
    {
        foreach (var node in _nodes)
        {
            if (node.Paused && node.CrashedUntil <= _step)
            {
                node.Paused = false;
                CountEvent("resume", node.Id);
            }
        }

        // Let the cluster bootstrap before the first fault.
        if (_step < StepsOf(5) || _random.NextDouble() >= Parameters.FaultsPerMinute / (60.0 / ControlSimParameters.Step.TotalSeconds))
        {
            return;
        }

        if (Parameters.OperatorPercent > 0 && _random.Next(100) < Parameters.OperatorPercent)
        {
            InjectOperatorRequest();
            return;
        }

        _faults++;
        var maxPartition = Math.Max(2.0, Parameters.LeaseTimeoutMs / 1000.0 * 3);
        switch (_random.Next(10))
        {
            case 0:
            {
                var shuffled = _nodes.OrderBy(_ => _random.Next()).ToList();
                var cut = 1 + _random.Next(_nodes.Count - 1);
                var until = RandomDuration(0.5, maxPartition);
                foreach (var a in shuffled.Take(cut))
                {
                    foreach (var b in shuffled.Skip(cut))
                    {
                        Block(a.Id, b.Id, until);
                        Block(b.Id, a.Id, until);
                    }
                }

                CountEvent("partition halves", string.Join(",", shuffled.Take(cut).Select(n => n.Id)) + " | " + string.Join(",", shuffled.Skip(cut).Select(n => n.Id)));
                break;
            }

            case 1:
                if (PrimaryNode() is { } primary)
                {
                    Isolate(primary.Id, RandomDuration(0.5, maxPartition));
                    CountEvent("isolate primary", primary.Id);
                }

                break;
            case 2:
                if (Leader() is { } leader)
                {
                    Isolate(leader.Id, RandomDuration(0.5, maxPartition));
                    CountEvent("isolate leader", leader.Id);
                }

                break;
            case 3:
            {
                var node = Pick(preferPrimary: true);
                var inbound = _random.Next(2) == 0;
                Isolate(node.Id, RandomDuration(0.5, maxPartition), inbound, !inbound);
                CountEvent("one-way cut", $"{node.Id} {(inbound ? "hears nothing" : "cannot send")}");
                break;
            }

            case 4:
            {
                var node = Pick(preferPrimary: true);
                if (node.Up)
                {
                    node.Crash();
                    node.CrashedUntil = RandomDuration(0.2, 8);
                    CountEvent("crash", node.Id);
                }

                break;
            }

            case 5:
            {
                var node = Pick(preferPrimary: true);
                if (node.Up && !node.Paused)
                {
                    node.Paused = true;
                    node.CrashedUntil = RandomDuration(0.2, Parameters.LeaseTimeoutMs / 1000.0 * 2.5);
                    CountEvent("pause pgraft", node.Id);
                }

                break;
            }

            case 6:
            {
                var node = Pick(preferPrimary: true);
                if (node.Postgres.Running)
                {
                    node.Postgres.Stop("killed");
                    CountEvent("kill postgres", node.Id);
                }

                break;
            }

            case 7:
                if (Leader() is { Process: { } leaderProcess })
                {
                    var state = leaderProcess.StateMachine.Current;
                    var to = _random.Next(2) == 0 ? null : _nodes[_random.Next(_nodes.Count)].Id;
                    leaderProcess.ProposeThroughLeader(new RequestSwitchover(state.View.Generation, to, leaderProcess.MonotonicClock.TimeProvider.GetUtcNow()));
                    CountEvent("switchover requested", to ?? "best standby");
                }

                break;
            case 8:
                _blockedUntil.Clear();
                CountEvent("heal network");
                break;
            default:
            {
                var node = Pick(preferPrimary: false);
                var until = RandomDuration(0.5, maxPartition);
                var other = _nodes[_random.Next(_nodes.Count)];
                Block(node.Id, other.Id, until);
                CountEvent("one-way link cut", $"{node.Id} -> {other.Id}");
                break;
            }
        }
    }

    /// <summary>What an operator may ask at any moment: a failover, a restart or a reinit, through the Raft leader as the CLI does.</summary>
    private void InjectOperatorRequest()
    {
        if (Leader() is not { Process: { } leaderProcess })
        {
            return;
        }

        var state = leaderProcess.StateMachine.Current;
        var now = leaderProcess.MonotonicClock.TimeProvider.GetUtcNow();
        var node = _nodes[_random.Next(_nodes.Count)].Id;
        switch (_random.Next(3))
        {
            case 0:
                var to = _random.Next(2) == 0 ? null : node;
                leaderProcess.ProposeThroughLeader(new RequestFailover(state.View.Generation, to, now));
                CountEvent("failover requested", to ?? "best standby");
                break;
            case 1:
                leaderProcess.ProposeThroughLeader(new RequestNodeOperation(node, NodeOperationKind.Restart, now));
                CountEvent("restart requested", node);
                break;
            default:
                leaderProcess.ProposeThroughLeader(new RequestNodeOperation(node, NodeOperationKind.Reinit, now));
                CountEvent("reinit requested", node);
                break;
        }
    }

    private void HealAll()
    {
        _blockedUntil.Clear();
        foreach (var node in _nodes)
        {
            node.Paused = false;
            if (!node.Up)
            {
                node.Start();
            }
        }

        Trace("healed every fault");
    }

    private bool Converged(out string why)
    {
        var leader = Leader();
        if (leader?.Process is not { } process)
        {
            why = "no Raft leader";
            return false;
        }

        var state = process.StateMachine.Current;
        var view = state.View;
        if (view.Primary is not { } primaryId || state.Bootstrap is null)
        {
            why = $"no bootstrapped primary in the view (leader {leader.Id}: {process.LastSentinelDecision})";
            return false;
        }

        if (state.Switchover is not null)
        {
            why = $"a switchover is still pending: {state.Switchover}; leader {leader.Id}: {process.LastSentinelDecision}";
            return false;
        }

        if (state.Failover is not null)
        {
            why = $"a manual failover is still pending: {state.Failover}; leader {leader.Id}: {process.LastSentinelDecision}";
            return false;
        }

        if (!state.PendingOperations.IsEmpty)
        {
            why = $"operator operations still pending: {string.Join(", ", state.PendingOperations.Select(o => $"{o.Value.Kind} {o.Value.Id} on {o.Key} (keeper: {_byId[o.Key].Process?.LastKeeperAction})"))}";
            return false;
        }

        var writable = _nodes.Where(n => n.Postgres.Writable).Select(n => n.Id).ToList();
        if (writable.Count != 1 || writable[0] != primaryId)
        {
            why = $"writable [{string.Join(",", writable)}], view primary {primaryId} at generation {view.Generation}; leader {leader.Id}: {process.LastSentinelDecision}; {primaryId}'s keeper: {_byId[primaryId].Process?.LastKeeperAction}";
            return false;
        }

        var primary = _byId[primaryId].Postgres;
        foreach (var node in _nodes.Where(n => n.Id != primaryId))
        {
            var pg = node.Postgres;
            var applied = node.Process!.StateMachine.Current.View;
            if (applied.Generation != view.Generation)
            {
                why = $"{node.Id} applied generation {applied.Generation}, the leader's is {view.Generation}";
                return false;
            }

            if (!pg.Running || !pg.StandbySignal || pg.Conninfo != view.UpstreamOf(node.Id) || !pg.IsPrefixOf(primary))
            {
                why = $"{node.Id} does not stream from {view.UpstreamOf(node.Id)}: running {pg.Running}, standby {pg.StandbySignal}, conninfo {pg.Conninfo}, "
                    + $"WAL {(pg.IsPrefixOf(primary) ? "a prefix of" : "diverged from")} the primary's (timeline {pg.Timeline} at {pg.Position}, primary timeline {primary.Timeline} at {primary.Position}); keeper: {node.Process.LastKeeperAction}";
                return false;
            }
        }

        why = "converged";
        return true;
    }

    // ---- reporting -----------------------------------------------------------------------------------------------

    private string Describe(ControlNode node)
    {
        var pg = node.Postgres;
        var process = node.Process;
        var state = process?.StateMachine.Current;
        var lease = process is null ? "-" : process.Lease.Holder.ToString();
        return string.Create(CultureInfo.InvariantCulture, $"{node.Id}[{(process is null ? "crashed" : node.Paused ? "paused" : process.Core.SoftState.Role.ToString())} term {process?.Core.SoftState.Term}, ")
            + string.Create(CultureInfo.InvariantCulture, $"view g{state?.View.Generation} primary {state?.View.Primary} sync {state?.View.Sync}/{state?.View.PrimarySync}; pg sync {pg.EffectiveSync} {(pg.Running ? "running" : "stopped")} {pg.Role} tl{pg.Timeline} (forked at {pg.TimelineFork?.ToString() ?? "-"}) {pg.Position} ")
            + string.Create(CultureInfo.InvariantCulture, $"guard {pg.GuardDeadline?.TotalMilliseconds:F0} clock {node.Clock.Now.TotalMilliseconds:F0}; lease {lease}]");
    }

    private void Trace(string what)
    {
        _trace.Enqueue(string.Create(CultureInfo.InvariantCulture, $"step {_step} ({Now.TotalSeconds:F2} s): {what}"));
        while (_trace.Count > TraceLength)
        {
            _trace.Dequeue();
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(string what)
    {
        var text = new StringBuilder();
        text.Append("control-plane simulation failed: ").AppendLine(what);
        text.Append("  replay with PGRAFT_CONTROL_SIM_SEED=\"").Append(Parameters.ToReplayString()).AppendLine("\"");
        text.Append(CultureInfo.InvariantCulture, $"  at step {_step} ({Now.TotalSeconds:F2} s simulated, {_phase})").AppendLine();
        foreach (var node in _nodes)
        {
            text.Append("  ").AppendLine(Describe(node));
        }

        if (Leader()?.Process?.StateMachine.Current.History is { } history)
        {
            text.Append("  history: ").AppendLine(string.Join("; ", history.Select(h =>
                $"g{h.Generation} {h.OldPrimary ?? "-"}→{h.NewPrimary} left timeline {h.Timeline} at {h.Lsn}, runs {h.Branch?.ToString() ?? "?"}")));
        }

        text.AppendLine("  last events:");
        foreach (var line in _trace)
        {
            text.Append("    ").AppendLine(line);
        }

        throw new ControlSimFailureException(text.ToString());
    }

    public ImmutableSortedDictionary<string, int> Events => _events.ToImmutableSortedDictionary(StringComparer.Ordinal);
}

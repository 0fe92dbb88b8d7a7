using System.Collections.Immutable;
using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Cluster;

namespace PgRaft.Node.Tests.Sentinel;

/// <summary>
/// A small deterministic model of the control plane over report sequences: one Raft leader at a time running the
/// real sentinel, lease rule and state applier; keepers with the real lease holder over a simulated PostgreSQL
/// (WAL as a list of write ids, streaming, synchronous acknowledgements); and faults: crashes, restarts, isolation,
/// a cut between a node and the Raft majority (WAL still streams), frozen pgraft processes (the guard still fences),
/// leader changes and switchover requests. Raft itself is abstracted: a committed command is seen at once by every
/// node in contact with the majority.
/// </summary>
internal sealed class ControlPlaneSimulation
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(50);
    private const ulong SystemId = 6_000_000_000_000_000_001UL;

    private sealed class SimNode(string id, ClusterSpec spec)
    {
        public string Id { get; } = id;
        public bool Alive { get; set; } = true;
        public bool Isolated { get; set; }
        public bool Cut { get; set; }
        public bool Frozen { get; set; }
        public bool PostgresBroken { get; set; }
        public bool Running { get; set; }
        public PgRole Role { get; set; } = PgRole.Standby;
        public int Timeline { get; set; } = 1;
        public List<int> Wal { get; } = [];
        public List<int> Pending { get; } = [];
        public ClusterState Known { get; set; } = ClusterState.Empty;
        public SyncConfig AppliedSync { get; set; } = SyncConfig.Async;
        public long AppliedGeneration { get; set; }
        public Lsn AppliedSyncLsn { get; set; }
        public long? StoppedFor { get; set; }
        public LeaseHolder Lease { get; set; } = LeaseHolder.None(spec.LeaseTimeout, spec.FenceMargin);
        public string? StreamingFrom { get; set; }

        public bool InContact => Alive && !Isolated && !Cut && !Frozen;

        public Lsn Position => new(0x3000000UL + ((ulong)Wal.Count * 0x100));
    }

    private readonly Random _random;
    private readonly ClusterSpec _spec;
    private readonly List<SimNode> _nodes;
    private readonly HashSet<int> _acknowledged = [];
    private ClusterState _state;
    private string? _leader;
    private LeaseTable _leases = LeaseTable.StartTerm(TimeSpan.Zero);
    private ReportTable _reports = ReportTable.Empty;
    private TimeSpan _now;
    private int _electionAt = -1;
    private int _nextWrite;
    private int _tick;

    public List<string> Violations { get; } = [];
    public Dictionary<string, int> Events { get; } = new(StringComparer.Ordinal);

    private readonly Func<SentinelInput, SentinelDecision> _decide;

    public ControlPlaneSimulation(int seed, Func<SentinelInput, SentinelDecision>? decide = null)
    {
        _decide = decide ?? SentinelRules.Decide;
        _random = new Random(seed);
        _spec = ClusterSpec.Default with
        {
            Mode = (ReplicationMode)_random.Next(3),
            SyncStandbyCount = _random.Next(1, 3),
            MaxLagOnFailover = 1 << 20,
        };
        var count = _random.Next(3, 5);
        _nodes = Enumerable.Range(1, count).Select(i => new SimNode($"n{i}", _spec)).ToList();
        var members = _nodes.ToImmutableSortedDictionary(n => n.Id, n => Fixtures.Member(n.Id), StringComparer.Ordinal);
        _state = ClusterState.Empty with
        {
            Spec = _spec,
            Members = members,
            View = new ClusterView(1, "n1", SyncConfig.Async, SyncConfig.Async,
                members.Keys.Where(k => k != "n1").ToImmutableSortedDictionary(k => k, _ => "n1", StringComparer.Ordinal)),
            History = [new HistoryEntry(1, null, "n1", ChangeReason.Bootstrap, 1, Lsn.Zero, DateTimeOffset.UnixEpoch)],
            Bootstrap = new BootstrapRecord("n1", SystemId, true),
        };
        _nodes[0].Role = PgRole.Primary;
        foreach (var node in _nodes)
        {
            node.Known = _state;
            node.AppliedGeneration = 1;
        }

        Elect();
    }

    public ReplicationMode Mode => _spec.Mode;

    /// <summary>What happened, tick by tick (faults, decisions, promotions), for reading a failing seed.</summary>
    public List<string> Trace { get; } = [];

    private void Count(string what)
    {
        Events[what] = Events.GetValueOrDefault(what) + 1;
        Trace.Add($"{_tick}: {what} | {string.Join(" ", _nodes.Select(n => $"{n.Id}[{(n.Alive ? "" : "dead ")}{(n.Isolated ? "iso " : "")}{(n.Cut ? "cut " : "")}{(n.Frozen ? "frozen " : "")}{(n.Running ? "run " : "")}{n.Role} tl{n.Timeline} wal{n.Wal.Count} sync{n.AppliedSync}]"))} leader {_leader} acked-max {(_acknowledged.Count == 0 ? -1 : _acknowledged.Max())}");
    }

    private SimNode Node(string id) => _nodes.First(n => n.Id == id);

    private void Elect()
    {
        var voters = _nodes.Where(n => n.InContact).ToList();
        if (voters.Count * 2 <= _nodes.Count)
        {
            _leader = null;
            return;
        }

        _leader = voters[_random.Next(voters.Count)].Id;
        _leases = LeaseTable.StartTerm(_now);
        _reports = ReportTable.Empty;
        Count("election");
    }

    public void Run(int faultTicks, int healTicks)
    {
        for (_tick = 0; _tick < faultTicks + healTicks; _tick++)
        {
            _now += Tick;
            if (_tick < faultTicks)
            {
                InjectFault();
            }
            else if (_tick == faultTicks)
            {
                foreach (var node in _nodes)
                {
                    node.Alive = true;
                    node.Isolated = node.Cut = node.Frozen = node.PostgresBroken = false;
                }
            }

            Step();
        }

        var writable = _nodes.Where(n => n.Running && n.Role == PgRole.Primary).Select(n => n.Id).ToList();
        if (writable.Count != 1 || writable[0] != _state.View.Primary)
        {
            Violations.Add($"no convergence after healing: writable [{string.Join(",", writable)}], view primary {_state.View.Primary}; last decision: {_lastDecision}");
        }
    }

    private string _lastDecision = string.Empty;

    private void InjectFault()
    {
        if (_random.Next(100) >= 4)
        {
            return;
        }

        var node = _nodes[_random.Next(_nodes.Count)];
        var primary = _state.View.Primary is { } p ? Node(p) : node;
        var target = _random.Next(2) == 0 ? primary : node;
        switch (_random.Next(9))
        {
            case 8:
                // PostgreSQL dies and cannot be restarted in place, while pgraft lives on and keeps asking for its lease.
                target.PostgresBroken = true;
                target.Running = false;
                Count("postgres broken");
                break;
            case 0:
                target.Alive = false;
                target.Running = false; // the guard stops PostgreSQL when pgraft dies
                Count("crash");
                break;
            case 1:
                target.Isolated = true;
                Count("isolate");
                break;
            case 2:
                target.Cut = true;
                Count("cut");
                break;
            case 3:
                target.Frozen = true;
                Count("freeze");
                break;
            case 4:
            case 5:
                target.Alive = true;
                target.Isolated = target.Cut = target.Frozen = target.PostgresBroken = false;
                Count("heal");
                break;
            case 6:
                if (_leader is not null)
                {
                    var to = _random.Next(2) == 0 ? null : _nodes[_random.Next(_nodes.Count)].Id;
                    Apply(new RequestSwitchover(_state.View.Generation, to, DateTimeOffset.UnixEpoch + _now), allowRejection: true);
                    Count("switchover request");
                }

                break;
            default:
                _electionAt = _tick;
                _leader = null;
                Count("leader lost");
                break;
        }
    }

    private void Step()
    {
        if (_leader is not null && !Node(_leader).InContact)
        {
            _leader = null;
            _electionAt = _tick;
        }

        if (_leader is null && _tick - _electionAt >= 20)
        {
            Elect();
        }

        foreach (var node in _nodes)
        {
            if (node.InContact)
            {
                node.Known = _state;
            }

            if (!node.Alive)
            {
                continue;
            }

            if (node.Frozen)
            {
                Guard(node);
            }
            else
            {
                Reconcile(node);
            }
        }

        Write();
        Stream();
        Acknowledge();
        Report();
        Decide();
        Check();
    }

    private void Guard(SimNode node)
    {
        if (node.Running && node.Role == PgRole.Primary && node.Lease.MustFence(_now, node.Known.View.Generation))
        {
            node.Running = false;
            Count("guard fenced");
        }
    }

    private void Reconcile(SimNode node)
    {
        var known = node.Known;
        var view = known.View;
        node.StreamingFrom = null;
        if (view.Primary == node.Id)
        {
            if (known.Switchover is { } sw && sw.From == node.Id && sw.Generation == view.Generation)
            {
                if (node.Running)
                {
                    // A clean shutdown sends the rest of the WAL to the standbys streaming from it.
                    foreach (var standby in _nodes.Where(n => n.Running && n.StreamingFrom == node.Id && Connected(n, node)
                        && n.Wal.SequenceEqual(node.Wal.Take(n.Wal.Count))))
                    {
                        standby.Wal.Clear();
                        standby.Wal.AddRange(node.Wal);
                    }
                }

                node.Running = false;
                node.StoppedFor = sw.Generation;
                node.Lease = node.Lease.Released();
                return;
            }

            node.StoppedFor = null;
            if (node.Role == PgRole.Standby)
            {
                node.Role = PgRole.Primary;
                node.Timeline++;
                node.Pending.Clear();
                Count("promote");
            }

            if (node.InContact && _leader is not null)
            {
                var request = new LeaseRequest(node.Id, view.Generation);
                var input = new SentinelInput(_state, _reports, _now, _leases, DateTimeOffset.UnixEpoch + _now);
                var decision = LeaseGrantRule.Decide(request, stillLeaderAfterQuorumRound: true, _state, SentinelRules.FailoverDue(input, node.Id));
                _leases = LeaseGrantRule.Record(_leases, request, decision, _now);
                node.Lease = decision.Granted ? node.Lease.OnGranted(_now, view.Generation) : node.Lease;
            }

            if (node.Lease.MustFence(_now, view.Generation))
            {
                if (node.Running)
                {
                    Count("keeper fenced");
                }

                node.Running = false;
                return;
            }

            if (node.PostgresBroken)
            {
                node.Running = false;
                return;
            }

            node.Running = true;
            if (_random.Next(2) == 0)
            {
                if (!node.AppliedSync.Equals(view.PrimarySync))
                {
                    node.AppliedSyncLsn = node.Position;
                }

                node.AppliedSync = view.PrimarySync;
                node.AppliedGeneration = view.Generation;
            }

            return;
        }

        node.StoppedFor = null;
        node.AppliedGeneration = view.Generation;
        if (node.Role == PgRole.Primary)
        {
            node.Running = false;
            node.Role = PgRole.Standby;
            node.Pending.Clear();
            node.AppliedSync = SyncConfig.Async;
            Count("demote");
            return;
        }

        node.Running = !node.PostgresBroken;
        node.StreamingFrom = view.Primary;
    }

    private void Write()
    {
        foreach (var node in _nodes.Where(n => n.Alive && n.Running && n.Role == PgRole.Primary))
        {
            var write = _nextWrite++;
            node.Wal.Add(write);
            node.Pending.Add(write);
        }
    }

    private static bool Connected(SimNode a, SimNode b) => a.Alive && b.Alive && !a.Isolated && !b.Isolated;

    private void Stream()
    {
        foreach (var standby in _nodes.Where(n => n.Running && n.Role == PgRole.Standby && n.StreamingFrom is not null))
        {
            var upstream = Node(standby.StreamingFrom!);
            if (!upstream.Running || upstream.Role != PgRole.Primary || !Connected(standby, upstream) || _random.Next(5) == 0)
            {
                continue;
            }

            var common = 0;
            while (common < standby.Wal.Count && common < upstream.Wal.Count && standby.Wal[common] == upstream.Wal[common])
            {
                common++;
            }

            if (common < standby.Wal.Count)
            {
                standby.Wal.RemoveRange(common, standby.Wal.Count - common); // pg_rewind
                Count("rewind");
            }

            standby.Wal.AddRange(upstream.Wal.Skip(common).Take(_random.Next(1, 4)));
            standby.Timeline = upstream.Timeline;
        }
    }

    private void Acknowledge()
    {
        foreach (var primary in _nodes.Where(n => n.Alive && n.Running && n.Role == PgRole.Primary))
        {
            foreach (var write in primary.Pending.ToList())
            {
                var sync = primary.AppliedSync;
                var confirmations = sync.Standbys.Count(id => Node(id) is var s && s.Alive && s.Role == PgRole.Standby && s.Wal.Contains(write));
                if (sync.IsAsync || confirmations >= sync.Quorum)
                {
                    _acknowledged.Add(write);
                    primary.Pending.Remove(write);
                }
            }
        }
    }

    private void Report()
    {
        if (_leader is null)
        {
            return;
        }

        foreach (var node in _nodes.Where(n => n.InContact))
        {
            _reports = _reports.With(new KeeperReport
            {
                NodeId = node.Id,
                ReceivedAt = _now,
                ObservedAt = _now,
                PostgresRunning = node.Running,
                Healthy = node.Running,
                Role = node.Role,
                SystemIdentifier = SystemId,
                Timeline = node.Timeline,
                FlushLsn = node.Role == PgRole.Primary ? node.Position : null,
                ReceiveLsn = node.Role == PgRole.Standby ? node.Position : null,
                ReplayLsn = node.Role == PgRole.Standby ? node.Position : null,
                Upstream = node.Running ? node.StreamingFrom : null,
                AppliedSync = node.AppliedSync,
                AppliedSyncLsn = node.AppliedSyncLsn,
                AppliedGeneration = node.AppliedGeneration,
                StoppedForSwitchover = node.StoppedFor,
            });
        }
    }

    private void Decide()
    {
        if (_leader is null)
        {
            return;
        }

        var input = new SentinelInput(_state, _reports, _now, _leases, DateTimeOffset.UnixEpoch + _now);
        var decision = _decide(input);
        _lastDecision = decision.ToString();
        foreach (var violation in SafetyOracle.Violations(input, decision))
        {
            Violations.Add($"tick {_tick}: {violation}");
        }

        if (decision.Command is { } command)
        {
            Count(command is ChangeView { History: { } h } ? "decided " + h.Reason : "decided " + command.GetType().Name);
            Trace.Add($"   {decision}");
            Apply(command, allowRejection: false);
        }
    }

    private void Apply(ClusterCommand command, bool allowRejection)
    {
        var (next, result) = ClusterStateApplier.Apply(_state, command);
        if (result.Outcome == CommandOutcome.Rejected && !allowRejection)
        {
            Violations.Add($"tick {_tick}: the state machine rejected the sentinel's {command.GetType().Name}: {result.Message}");
        }

        _state = next;
    }

    private void Check()
    {
        var writable = _nodes.Where(n => n.Alive && n.Running && n.Role == PgRole.Primary).ToList();
        if (writable.Count > 1)
        {
            Violations.Add($"tick {_tick}: two writable primaries: {string.Join(", ", writable.Select(n => n.Id))}");
        }

        if (_spec.IsSynchronous)
        {
            foreach (var primary in writable)
            {
                var lost = _acknowledged.Where(w => !primary.Wal.Contains(w)).Take(3).ToList();
                if (lost.Count > 0)
                {
                    Violations.Add($"tick {_tick}: primary {primary.Id} lacks acknowledged writes {string.Join(",", lost)} ({_spec.Mode})");
                }
            }
        }
    }
}

using System.Buffers.Binary;
using System.Collections.Immutable;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Tests.Simulation;

internal sealed record SimulationResult(
    int Steps, int HealTicks, int Acknowledged, int LeaderElections, long CommitIndex,
    int ConfigChanges, int SnapshotsSent, int ReadsAnswered, int TimeoutNows, int Crashes);

/// <summary>
/// Runs one seeded schedule of ticks, deliveries, drops, duplicates, reorders, partitions, crashes, restarts,
/// membership changes, compactions, reads and transfers over a cluster of <see cref="RaftCore"/>s, checking
/// <see cref="SafetyChecker"/> after every step; then heals everything and requires progress within a bound.
/// </summary>
internal sealed class Simulator : ISimHost
{
    /// <summary>Ticks allowed after healing for a leader to be elected and a proposal to reach every member.</summary>
    public const int HealTickBudget = 60 * SimulationParameters.ElectionTicks;

    private const int MaxInFlight = 400;
    private const int TraceLength = 40;

    private readonly SimulationParameters p;
    private readonly Random random;
    private readonly Dictionary<string, SimNode> nodes = new(StringComparer.Ordinal);
    private readonly List<string> voterIds = [];
    private readonly List<string> spareIds = [];
    private readonly HashSet<string> started = new(StringComparer.Ordinal);
    private readonly List<RaftMessage> inFlight = [];
    private readonly HashSet<(string From, string To)> blocked = [];
    private readonly SafetyChecker checker;
    private readonly Queue<string> trace = new();
    private long nextProposalId = 1;
    private long nextReadId = 1;
    private int step;
    private int configChanges;
    private int snapshotsSent;
    private int readsAnswered;
    private int timeoutNows;
    private int crashes;
    private string phase = "chaos";

    public Simulator(SimulationParameters parameters)
    {
        p = parameters;
        random = new Random(unchecked(parameters.Seed * 31 + 7));
        for (var i = 1; i <= p.Voters; i++)
        {
            voterIds.Add($"n{i}");
        }

        for (var i = 1; i <= p.Spares; i++)
        {
            spareIds.Add($"n{p.Voters + i}");
        }

        var bootstrap = new Snapshot(new SnapshotMetadata(0, 0, Membership.Of([.. voterIds])), ReadOnlyMemory<byte>.Empty);
        checker = new SafetyChecker(nodes);
        foreach (var id in voterIds.Concat(spareIds))
        {
            var options = new RaftCoreOptions
            {
                Id = id,
                ElectionTicks = SimulationParameters.ElectionTicks,
                HeartbeatTicks = p.HeartbeatTicks,
                PreVote = p.PreVote,
                CheckQuorum = p.CheckQuorum,
                MaxEntriesPerAppend = p.MaxEntriesPerAppend,
                MaxInflightAppends = p.MaxInflight,
                Fault = p.Fault,
            };
            var storage = new SimStorage(voterIds.Contains(id) ? bootstrap : null);
            var node = new SimNode(options, storage, new Random(random.Next()));
            storage.OnHardState = (before, after) => checker.OnHardState(node, before, after);
            nodes[id] = node;
            if (voterIds.Contains(id))
            {
                started.Add(id);
            }
            else
            {
                node.Crash(); // not started until added
            }
        }
    }

    internal SafetyChecker Checker => checker;

    public static SimulationResult Run(SimulationParameters parameters) => new Simulator(parameters).Run();

    public SimulationResult Run()
    {
        try
        {
            for (step = 0; step < p.Steps; step++)
            {
                RandomAction();
                checker.CheckStep();
            }

            var healTicks = Heal();
            var commit = nodes.Values.Where(n => n.IsUp).Max(n => n.Core!.CommitIndex);
            return new SimulationResult(p.Steps, healTicks, checker.Acknowledged, checker.LeaderElections, commit, configChanges, snapshotsSent, readsAnswered, timeoutNows, crashes);
        }
        catch (Exception ex) when (ex is SimulationFailureException or InvalidOperationException or ArgumentException)
        {
            throw new SimulationFailureException(
                $"Raft simulation failed: {ex.Message}\n  replay with PGRAFT_SIM_SEED=\"{p.ToReplayString()}\"\n  at step {step} ({phase})\n"
                + $"  exception: {ex.GetType().Name}\n  last actions:\n    {string.Join("\n    ", trace)}\n{ex.StackTrace}");
        }
    }

    // ---- host callbacks --------------------------------------------------------------------------------------

    public void Send(SimNode from, RaftMessage message)
    {
        checker.OnSend(from, message);
        if (message.Type == MessageType.InstallSnapshot)
        {
            snapshotsSent++;
        }
        else if (message.Type == MessageType.TimeoutNow)
        {
            timeoutNows++;
        }
        inFlight.Add(message);
        if (inFlight.Count > MaxInFlight)
        {
            inFlight.RemoveAt(0);
        }
    }

    public void OnApplied(SimNode node, LogEntry entry) => checker.OnApplied(node, entry);

    public void OnSnapshotRestored(SimNode node, Snapshot snapshot) => checker.OnSnapshotRestored(node, snapshot);

    public void OnReadState(SimNode node, ReadState read)
    {
        readsAnswered++;
        checker.OnReadState(node, read);
    }

    public void Observe(SimNode node) => checker.ObserveLeader(node);

    // ---- actions ---------------------------------------------------------------------------------------------

    private void RandomAction()
    {
        var roll = random.Next(1000);
        if ((roll -= 200) < 0)
        {
            TickAll();
        }
        else if ((roll -= 480) < 0)
        {
            var count = 1 + random.Next(4);
            for (var i = 0; i < count && inFlight.Count > 0; i++)
            {
                DeliverOne(PickMessageIndex());
            }
        }
        else if ((roll -= p.DropPercent * 5) < 0)
        {
            if (inFlight.Count > 0)
            {
                var i = random.Next(inFlight.Count);
                Trace("drop", Describe(inFlight[i]));
                inFlight.RemoveAt(i);
            }
        }
        else if ((roll -= p.DuplicatePercent * 5) < 0)
        {
            if (inFlight.Count > 0)
            {
                var m = inFlight[random.Next(inFlight.Count)];
                Trace("duplicate", Describe(m));
                inFlight.Add(m);
            }
        }
        else if ((roll -= 120) < 0)
        {
            ProposeCommand();
        }
        else if ((roll -= 20) < 0)
        {
            RequestRead();
        }
        else if ((roll -= 6) < 0)
        {
            TransferLeadership();
        }
        else if ((roll -= 20) < 0)
        {
            if (p.Compaction)
            {
                Compact();
            }
        }
        else if ((roll -= 20) < 0)
        {
            if (p.Membership)
            {
                ChangeMembership();
            }
        }
        else if ((roll -= p.CrashPerMille) < 0)
        {
            CrashOne();
        }
        else if ((roll -= 25) < 0)
        {
            RestartOne();
        }
        else if ((roll -= p.PartitionPerMille) < 0)
        {
            Partition();
        }
        else if ((roll -= 15) < 0)
        {
            Trace("heal partition", null);
            blocked.Clear();
        }
        else
        {
            TickAll();
        }
    }

    private int PickMessageIndex()
    {
        // Mostly near the head (roughly in order), sometimes anywhere (reordering, delay).
        return random.Next(4) != 0 ? random.Next(Math.Min(3, inFlight.Count)) : random.Next(inFlight.Count);
    }

    private void TickAll()
    {
        Trace("tick", null);
        foreach (var node in nodes.Values)
        {
            node.Core?.Tick();
        }

        ProcessAll();
    }

    private void ProcessAll()
    {
        foreach (var node in nodes.Values)
        {
            node.ProcessReady(this);
        }
    }

    private void DeliverOne(int index)
    {
        var m = inFlight[index];
        inFlight.RemoveAt(index);
        if (blocked.Contains((m.From, m.To)) || !nodes.TryGetValue(m.To, out var target) || target.Core is null)
        {
            return;
        }

        Trace("deliver", Describe(m));
        target.Core.Step(m);
        target.ProcessReady(this);
    }

    private SimNode? CurrentLeader()
    {
        SimNode? best = null;
        foreach (var node in nodes.Values)
        {
            if (node.Core is { SoftState.Role: RaftRole.Leader } core && (best is null || core.SoftState.Term > best.Core!.SoftState.Term))
            {
                best = node;
            }
        }

        return best;
    }

    private SimNode? RandomUpNode()
    {
        var up = nodes.Values.Where(n => n.IsUp).ToList();
        return up.Count == 0 ? null : up[random.Next(up.Count)];
    }

    private bool ProposeOn(SimNode node)
    {
        var id = nextProposalId++;
        var data = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(data, id);
        var (result, index, term) = node.Core!.Propose(data);
        Trace("propose", $"{node.Id} #{id} -> {result} ({index}, {term})");
        if (result == ProposeResult.Accepted)
        {
            checker.OnProposed(node.Id, id, index, term);
            node.ProcessReady(this);
            return true;
        }

        return false;
    }

    private (long Index, long Term, string Node)? livenessProposal;

    private void ProposeCommand()
    {
        var node = random.Next(5) != 0 ? CurrentLeader() : RandomUpNode();
        if (node is not null)
        {
            ProposeOn(node);
        }
    }

    private void RequestRead()
    {
        var node = CurrentLeader();
        if (node is null)
        {
            return;
        }

        var id = nextReadId++;
        var ctx = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(ctx, id);
        checker.OnReadRequested(id);
        var ok = node.Core!.ReadIndex(ctx);
        Trace("read index", $"{node.Id} #{id} -> {ok}");
        node.ProcessReady(this);
    }

    private void TransferLeadership()
    {
        var node = CurrentLeader();
        if (node is null)
        {
            return;
        }

        var voters = node.Core!.Membership.Voters.Where(v => v != node.Id).ToList();
        if (voters.Count == 0)
        {
            return;
        }

        var target = voters[random.Next(voters.Count)];
        var ok = node.Core.TransferLeadership(target);
        Trace("transfer", $"{node.Id} -> {target}: {ok}");
        node.ProcessReady(this);
    }

    private void Compact()
    {
        var node = RandomUpNode();
        if (node?.Core is not { } core || core.AppliedIndex <= (core.Snapshot?.Metadata.Index ?? 0))
        {
            return;
        }

        if (node.StateMachine.AppliedIndex != core.AppliedIndex)
        {
            throw new SimulationFailureException($"{node.Id}: state machine applied {node.StateMachine.AppliedIndex}, core says {core.AppliedIndex}");
        }

        var index = core.AppliedIndex;
        core.Compact(index, node.StateMachine.TakeSnapshot());
        node.Storage.InstallSnapshot(core.Snapshot!);
        Trace("compact", $"{node.Id} to {index}");
    }

    private void ChangeMembership()
    {
        var leader = CurrentLeader();
        if (leader?.Core is not { } core)
        {
            return;
        }

        var membership = core.Membership;
        var choice = random.Next(3);
        ConfigChange change;
        var fresh = spareIds.FirstOrDefault(id => !started.Contains(id));
        if (choice == 0 && fresh is not null)
        {
            change = new ConfigChange(ConfigChangeKind.AddLearner, fresh);
        }
        else if (choice <= 1 && membership.Learners.Count > 0)
        {
            change = new ConfigChange(ConfigChangeKind.PromoteLearner, membership.Learners[random.Next(membership.Learners.Count)]);
        }
        else
        {
            var members = membership.All.ToList();
            if (membership.Voters.Count <= 2)
            {
                members = [.. membership.Learners];
            }

            if (members.Count == 0)
            {
                return;
            }

            change = new ConfigChange(ConfigChangeKind.Remove, members[random.Next(members.Count)]);
        }

        var (result, index, term) = core.ProposeConfigChange(change);
        Trace("config change", $"{leader.Id}: {change.Kind} {change.NodeId} -> {result} ({index}, {term})");
        if (result == ProposeResult.Accepted)
        {
            configChanges++;
        }

        if (result == ProposeResult.Accepted && change.Kind == ConfigChangeKind.AddLearner && started.Add(change.NodeId))
        {
            nodes[change.NodeId].Restart();
        }

        leader.ProcessReady(this);
    }

    private void CrashOne()
    {
        var node = RandomUpNode();
        if (node is null)
        {
            return;
        }

        crashes++;
        switch (random.Next(3))
        {
            case 0:
                Trace("crash", node.Id);
                node.Crash();
                break;
            case 1:
                Trace("crash before next persist", node.Id);
                node.PendingCrash = CrashPoint.BeforePersist;
                break;
            default:
                Trace("crash after next persist", node.Id);
                node.PendingCrash = CrashPoint.AfterPersist;
                break;
        }
    }

    private void RestartOne()
    {
        var down = nodes.Values.Where(n => !n.IsUp && !n.Retired && started.Contains(n.Id)).ToList();
        if (down.Count == 0)
        {
            return;
        }

        var node = down[random.Next(down.Count)];
        Trace("restart", node.Id);
        node.Restart();
        node.ProcessReady(this);
    }

    private void Partition()
    {
        blocked.Clear();
        var ids = nodes.Keys.Where(started.Contains).OrderBy(_ => random.Next()).ToList();
        if (ids.Count < 2)
        {
            return;
        }

        switch (random.Next(4))
        {
            case 0:
            {
                var k = 1 + random.Next(ids.Count - 1);
                Block(ids.Take(k), ids.Skip(k), bothWays: true);
                Trace("partition halves", string.Join(' ', ids.Take(k)) + " | " + string.Join(' ', ids.Skip(k)));
                break;
            }

            case 1:
            {
                var leader = CurrentLeader()?.Id ?? ids[0];
                Block([leader], ids.Where(i => i != leader), bothWays: true);
                Trace("isolate", leader);
                break;
            }

            case 2:
            {
                if (ids.Count < 3)
                {
                    goto case 0;
                }

                var bridge = ids[0];
                var k = 1 + random.Next(ids.Count - 2);
                var a = ids.Skip(1).Take(k).ToList();
                var b = ids.Skip(1 + k).ToList();
                Block(a, b, bothWays: true);
                Trace("bridge", $"{string.Join(' ', a)} <-{bridge}-> {string.Join(' ', b)}");
                break;
            }

            default:
            {
                var from = ids[0];
                var to = ids[1];
                blocked.Add((from, to));
                Trace("one-way", $"{from} -/-> {to}");
                break;
            }
        }
    }

    private void Block(IEnumerable<string> a, IEnumerable<string> b, bool bothWays)
    {
        var bl = b.ToList();
        foreach (var x in a)
        {
            foreach (var y in bl)
            {
                blocked.Add((x, y));
                if (bothWays)
                {
                    blocked.Add((y, x));
                }
            }
        }
    }

    // ---- healing and liveness --------------------------------------------------------------------------------

    private int Heal()
    {
        phase = "heal";
        blocked.Clear();
        foreach (var node in nodes.Values)
        {
            node.PendingCrash = CrashPoint.None;
            if (started.Contains(node.Id) && !node.IsUp)
            {
                node.Restart();
            }
        }

        var committedMembership = CommittedMembership();
        foreach (var node in nodes.Values)
        {
            if (node.IsUp && !committedMembership.Contains(node.Id) && !nodes.Values.Any(n => n != node && n.Core is { } c && c.Membership.Contains(node.Id)))
            {
                // Removed for good: a real operator shuts such a node down.
                node.Retired = true;
                node.Crash();
            }
        }

        ProcessAll();
        checker.CheckStep();
        for (var tick = 1; tick <= HealTickBudget; tick++)
        {
            step++;
            foreach (var node in nodes.Values)
            {
                node.Core?.Tick();
            }

            ProcessAll();
            for (var round = 0; round < 8 && inFlight.Count > 0; round++)
            {
                var batch = inFlight.ToList();
                inFlight.Clear();
                foreach (var m in batch)
                {
                    if (nodes.TryGetValue(m.To, out var target) && target.Core is { } core)
                    {
                        Trace("deliver", Describe(m));
                        core.Step(m);
                        target.ProcessReady(this);
                    }
                }
            }

            checker.CheckStep();
            if (HealedAndProgressing())
            {
                return tick;
            }
        }

        var roles = string.Join(", ", nodes.Values.Where(n => n.IsUp).Select(n =>
            $"{n.Id}:{n.Core!.SoftState.Role}@{n.Core.SoftState.Term} commit={n.Core.CommitIndex} applied={n.Core.AppliedIndex} last={n.Core.LastIndex} members={Describe(n.Core.Membership)}"));
        throw new SimulationFailureException($"no progress within {HealTickBudget} ticks after healing: {roles}");
    }

    private bool HealedAndProgressing()
    {
        var leader = CurrentLeader();
        if (leader?.Core is not { } core || !core.Membership.Voters.Contains(leader.Id))
        {
            return false;
        }

        if (livenessProposal is not { } lp || lp.Node != leader.Id || lp.Term != core.SoftState.Term)
        {
            if (core.LeadTransferee is null && ProposeOn(leader))
            {
                livenessProposal = (core.LastIndex, core.SoftState.Term, leader.Id);
            }

            return false;
        }

        if (!checker.IsAcknowledged(lp.Node, lp.Index, lp.Term))
        {
            return false;
        }

        // Every member must catch up too (through the log or a snapshot).
        foreach (var id in core.Membership.All)
        {
            if (!nodes.TryGetValue(id, out var n) || (!n.Retired && (n.Core is null || n.Core.AppliedIndex < lp.Index)))
            {
                return false;
            }
        }

        return true;
    }

    private Membership CommittedMembership()
    {
        var best = nodes.Values.Where(n => n.IsUp || started.Contains(n.Id))
            .Select(n => n.Core)
            .Where(c => c is not null && c.IsInitialised)
            .OrderByDescending(c => c!.CommitIndex)
            .FirstOrDefault();
        if (best is not null)
        {
            return best.Log.MembershipAt(best.CommitIndex);
        }

        // Every node is down: use the durable state of the one with the most.
        var storage = nodes.Values.Where(n => n.Storage.Snapshot is not null).OrderByDescending(n => n.Storage.HardState.Commit).First().Storage;
        var state = storage.Load();
        var core = new RaftCore(new RaftCoreOptions { Id = "probe" }, state, new Random(0));
        return core.Log.MembershipAt(core.CommitIndex);
    }

    // ---- tracing ---------------------------------------------------------------------------------------------

    private void Trace(string what, string? detail)
    {
        if (trace.Count == TraceLength)
        {
            trace.Dequeue();
        }

        trace.Enqueue(detail is null ? $"{step}: {what}" : $"{step}: {what} {detail}");
    }

    private static string Describe(RaftMessage m) =>
        $"{m.Type} {m.From}->{m.To} t{m.Term} i{m.Index} lt{m.LogTerm} c{m.Commit}{(m.Reject ? " reject" : "")} n{m.Entries.Count}";

    private static string Describe(Membership m) =>
        $"[{string.Join(' ', m.Voters)}{(m.Learners.IsEmpty ? "" : " learners " + string.Join(' ', m.Learners))}]";
}

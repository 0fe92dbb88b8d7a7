using System.Buffers.Binary;
using PgRaft.Raft.Core;
using PgRaft.Raft.Tests.Simulation;

namespace PgRaft.Raft.Tests.Core;

/// <summary>A small cluster of real cores over a lossless in-memory network, for scenario tests.</summary>
internal sealed class TestCluster : ISimHost
{
    private readonly List<RaftMessage> network = [];
    private readonly HashSet<(string From, string To)> cut = [];
    private readonly Func<string, RaftCoreOptions> optionsFor;
    private int seed = 1;

    public TestCluster(params string[] voters)
        : this(id => new RaftCoreOptions { Id = id, ElectionTicks = 10, HeartbeatTicks = 1 }, voters)
    {
    }

    public TestCluster(Func<string, RaftCoreOptions> optionsFor, params string[] voters)
    {
        this.optionsFor = optionsFor;
        var bootstrap = new Snapshot(new SnapshotMetadata(0, 0, Membership.Of(voters)), ReadOnlyMemory<byte>.Empty);
        foreach (var id in voters)
        {
            Add(id, bootstrap);
        }
    }

    public Dictionary<string, SimNode> Nodes { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, List<LogEntry>> Applied { get; } = new(StringComparer.Ordinal);

    public List<(string Node, ReadState Read)> Reads { get; } = [];

    /// <summary>Every message ever sent, for assertions about traffic.</summary>
    public List<RaftMessage> Sent { get; } = [];

    public RaftCore this[string id] => Nodes[id].Core!;

    /// <summary>Adds a node with the given starting snapshot (null: an empty node waiting to be added).</summary>
    public SimNode Add(string id, Snapshot? snapshot)
    {
        var node = new SimNode(optionsFor(id), new SimStorage(snapshot), new Random(seed++));
        Nodes[id] = node;
        Applied[id] = [];
        return node;
    }

    public void Isolate(string id)
    {
        foreach (var other in Nodes.Keys)
        {
            if (other != id)
            {
                cut.Add((id, other));
                cut.Add((other, id));
            }
        }
    }

    public void CutOneWay(string from, string to) => cut.Add((from, to));

    public void HealAll() => cut.Clear();

    public void TickAll(int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            foreach (var node in Nodes.Values)
            {
                node.Core?.Tick();
            }

            ProcessAll();
        }
    }

    /// <summary>Ticks and delivers everything, <paramref name="ticks"/> times.</summary>
    public void Run(int ticks)
    {
        for (var i = 0; i < ticks; i++)
        {
            TickAll();
            DeliverAll();
        }
    }

    public void Tick(string id, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            Nodes[id].Core!.Tick();
            Nodes[id].ProcessReady(this);
        }
    }

    public void ProcessAll()
    {
        foreach (var node in Nodes.Values)
        {
            node.ProcessReady(this);
        }
    }

    public void DeliverAll(int maxRounds = 200)
    {
        ProcessAll();
        for (var round = 0; round < maxRounds && network.Count > 0; round++)
        {
            var batch = network.ToList();
            network.Clear();
            foreach (var m in batch)
            {
                Deliver(m);
            }
        }
    }

    public void Deliver(RaftMessage m)
    {
        if (cut.Contains((m.From, m.To)) || !Nodes.TryGetValue(m.To, out var target) || target.Core is null)
        {
            return;
        }

        target.Core.Step(m);
        target.ProcessReady(this);
    }

    /// <summary>Ticks only <paramref name="id"/> until it leads (others hear it), then settles the cluster.</summary>
    public RaftCore Elect(string id)
    {
        for (var i = 0; i < 100 && this[id].SoftState.Role != RaftRole.Leader; i++)
        {
            Tick(id);
            DeliverAll();
        }

        Assert.Equal(RaftRole.Leader, this[id].SoftState.Role);
        DeliverAll();
        return this[id];
    }

    public string? Leader() => Nodes.Values.Where(n => n.Core is { SoftState.Role: RaftRole.Leader })
        .OrderByDescending(n => n.Core!.SoftState.Term).Select(n => n.Id).FirstOrDefault();

    public static byte[] Command(long value)
    {
        var data = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(data, value);
        return data;
    }

    public List<long> AppliedCommands(string id) => Applied[id]
        .Where(e => e.Kind == EntryKind.Command && e.Data.Length == 8)
        .Select(e => BinaryPrimitives.ReadInt64LittleEndian(e.Data.Span))
        .ToList();

    public void Send(SimNode from, RaftMessage message)
    {
        Sent.Add(message);
        network.Add(message);
    }

    public void OnApplied(SimNode node, LogEntry entry) => Applied[node.Id].Add(entry);

    public void OnSnapshotRestored(SimNode node, Snapshot snapshot)
    {
    }

    public void OnReadState(SimNode node, ReadState read) => Reads.Add((node.Id, read));

    public void Observe(SimNode node)
    {
    }

    /// <summary>Drops every message in flight.</summary>
    public void DropInFlight() => network.Clear();
}

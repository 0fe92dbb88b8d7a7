using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using PgRaft.Raft.Core;
using PgRaft.Raft.Hosting;

// Three RaftHosts on loopback in one process: FileRaftStorage (fsync) in temp directories, TCP transport, real core.
// Prints commit latency (one sequential proposer) and throughput (64 concurrent proposers).
var sequential = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2000;
var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 10;
const int Proposers = 64;
var root = args.Length > 2 ? args[2] : Path.Combine(Path.GetTempPath(), "pgraft-bench-" + Guid.NewGuid().ToString("N"));
string[] ids = ["b1", "b2", "b3"];
var ports = FreePorts(27900, ids.Length);
var members = ids.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => $"127.0.0.1:{ports[p.i]}");
var secret = "benchmark cluster secret, 32 bytes"u8.ToArray();
var hosts = new List<RaftHost>();
try
{
    for (var i = 0; i < ids.Length; i++)
    {
        var host = new RaftHost(
            new RaftHostOptions
            {
                NodeId = ids[i],
                DataDirectory = Path.Combine(root, ids[i]),
                BindEndPoint = new IPEndPoint(IPAddress.Loopback, ports[i]),
                InitialMembers = members,
                ClusterSecret = secret,
            },
            new NullStateMachine(),
            NullLoggerFactory.Instance);
        await host.StartAsync(CancellationToken.None);
        hosts.Add(host);
    }

    var electionClock = Stopwatch.StartNew();
    RaftHost? leader = null;
    while ((leader = hosts.FirstOrDefault(h => h.IsLeader)) is null)
    {
        if (electionClock.Elapsed > TimeSpan.FromSeconds(30))
        {
            throw new TimeoutException("No leader elected within 30 s.");
        }

        await Task.Delay(5);
    }

    Console.WriteLine($"leader {leader.NodeId} elected after {electionClock.ElapsedMilliseconds} ms (tick 50 ms, election timeout 1-2 s)");
    var payload = new byte[100];
    for (var i = 0; i < 200; i++)
    {
        await leader.ProposeAsync(payload, CancellationToken.None);
    }

    var latencies = new double[sequential];
    for (var i = 0; i < sequential; i++)
    {
        var start = Stopwatch.GetTimestamp();
        await leader.ProposeAsync(payload, CancellationToken.None);
        latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    Array.Sort(latencies);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"sequential: {sequential} commits, latency p50 {Percentile(latencies, 0.50):0.00} ms, p99 {Percentile(latencies, 0.99):0.00} ms, max {latencies[^1]:0.00} ms"));

    long commits = 0;
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
    var clock = Stopwatch.StartNew();
    var workers = Enumerable.Range(0, Proposers).Select(async _ =>
    {
        while (!stop.IsCancellationRequested)
        {
            await leader.ProposeAsync(payload, CancellationToken.None);
            Interlocked.Increment(ref commits);
        }
    });
    await Task.WhenAll(workers);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"concurrent: {Proposers} proposers, {commits} commits in {clock.Elapsed.TotalSeconds:0.0} s = {commits / clock.Elapsed.TotalSeconds:0} commits/s"));
}
finally
{
    foreach (var host in hosts)
    {
        await host.StopAsync(CancellationToken.None);
    }

    if (args.Length <= 2)
    {
        Directory.Delete(root, recursive: true);
    }
}

static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

static int[] FreePorts(int from, int count)
{
    var ports = new List<int>();
    for (var port = from; port < 28000 && ports.Count < count; port++)
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
            ports.Add(port);
        }
        catch (SocketException)
        {
        }
    }

    return [.. ports];
}

internal sealed class NullStateMachine : IStateMachine
{
    private long _applied;

    public object? Apply(long index, ReadOnlySpan<byte> command) => _applied = index;

    public byte[] TakeSnapshot() => BitConverter.GetBytes(_applied);

    public void Restore(ReadOnlySpan<byte> snapshot) => _applied = snapshot.Length >= 8 ? BitConverter.ToInt64(snapshot) : 0;
}

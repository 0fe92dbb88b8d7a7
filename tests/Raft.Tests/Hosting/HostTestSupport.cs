using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using PgRaft.Raft.Hosting;
using PgRaft.Raft.Tests.Transport;
using Xunit.Abstractions;

namespace PgRaft.Raft.Tests.Hosting;

/// <summary>A replicated list of strings; Apply returns the entry's index. Snapshot = the lines joined.</summary>
internal sealed class ListStateMachine : IStateMachine
{
    private readonly object _lock = new();
    private List<string> _items = [];
    private long _lastIndex;

    public long LastIndex
    {
        get
        {
            lock (_lock)
            {
                return _lastIndex;
            }
        }
    }

    public string[] Items
    {
        get
        {
            lock (_lock)
            {
                return [.. _items];
            }
        }
    }

    public object? Apply(long index, ReadOnlySpan<byte> command)
    {
        lock (_lock)
        {
            if (index <= _lastIndex)
            {
                throw new InvalidOperationException($"Entry {index} applied after {_lastIndex}.");
            }

            _items.Add(Encoding.UTF8.GetString(command));
            _lastIndex = index;
            return index;
        }
    }

    public byte[] TakeSnapshot()
    {
        lock (_lock)
        {
            return Encoding.UTF8.GetBytes(_lastIndex + "\n" + string.Join("\n", _items));
        }
    }

    public void Restore(ReadOnlySpan<byte> snapshot)
    {
        lock (_lock)
        {
            var lines = Encoding.UTF8.GetString(snapshot).Split('\n');
            _lastIndex = long.Parse(lines[0], System.Globalization.CultureInfo.InvariantCulture);
            _items = lines.Length > 1 && !(lines.Length == 2 && lines[1].Length == 0) ? [.. lines.Skip(1)] : [];
        }
    }
}

/// <summary>Loggers that write to the test's output (shown when a test fails) and keep event ids for assertions.</summary>
internal sealed class TestLoggerFactory(ITestOutputHelper output) : ILoggerFactory
{
    private readonly ITestOutputHelper _output = output;

    public System.Collections.Concurrent.ConcurrentQueue<(string Category, LogRecord Record)> Records { get; } = new();

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    public int Count(int eventId) => Records.Count(r => r.Record.EventId.Id == eventId);

    private sealed class Logger(TestLoggerFactory factory, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, exception);
            factory.Records.Enqueue((category, new LogRecord(logLevel, eventId, message)));
            try
            {
                factory._output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {eventId.Id} {message}{(exception is null ? "" : " " + exception.Message)}");
            }
            catch (InvalidOperationException)
            {
                // The test has finished.
            }
        }
    }
}

/// <summary>Real RaftHosts (FileRaftStorage, TcpRaftTransport, RaftCore) on loopback in temp directories.</summary>
internal sealed class TestCluster : IAsyncDisposable
{
    // One secret per cluster: clusters of concurrently running tests can never talk to each other.
    public readonly byte[] Secret = Encoding.UTF8.GetBytes("host test secret " + Guid.NewGuid().ToString("N"));

    private readonly string _root = Path.Combine(Path.GetTempPath(), "pgraft-host-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, int> _ports = new(StringComparer.Ordinal);

    public TestCluster(ITestOutputHelper output, params string[] ids)
    {
        Logs = new TestLoggerFactory(output);
        Directory.CreateDirectory(_root);
        foreach (var id in ids)
        {
            _ports[id] = TestPorts.Next();
        }
    }

    public TestLoggerFactory Logs { get; }

    public Dictionary<string, RaftHost> Hosts { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, ListStateMachine> StateMachines { get; } = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, string> Members(IEnumerable<string> ids) =>
        ids.ToDictionary(id => id, id => $"127.0.0.1:{_ports[id]}", StringComparer.Ordinal);

    public int PortOf(string id) => _ports.TryGetValue(id, out var port) ? port : _ports[id] = TestPorts.Next();

    public RaftHostOptions Options(string id, IEnumerable<string> initialMembers, byte[]? secret = null) => new()
    {
        NodeId = id,
        DataDirectory = Path.Combine(_root, id),
        BindEndPoint = new IPEndPoint(IPAddress.Loopback, PortOf(id)),
        AdvertisedAddress = $"127.0.0.1:{PortOf(id)}",
        InitialMembers = Members(initialMembers),
        ClusterSecret = secret ?? Secret,
        TickInterval = TimeSpan.FromMilliseconds(10),
        ElectionTicks = 25,
        HeartbeatTicks = 2,
        SnapshotThreshold = 40,
        ShutdownTransferTimeout = TimeSpan.FromSeconds(3),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
    };

    public async Task<RaftHost> StartAsync(RaftHostOptions options)
    {
        var stateMachine = new ListStateMachine();
        var host = new RaftHost(options, stateMachine, Logs);
        await host.StartAsync(CancellationToken.None);
        Hosts[options.NodeId] = host;
        StateMachines[options.NodeId] = stateMachine;
        return host;
    }

    public async Task StartAllAsync(params string[] ids)
    {
        foreach (var id in ids)
        {
            await StartAsync(Options(id, ids));
        }
    }

    public async Task<RaftHost> WaitForLeaderAsync(IEnumerable<string>? among = null, TimeSpan? timeout = null)
    {
        var candidates = (among ?? Hosts.Keys).ToArray();
        RaftHost? leader = null;
        await Eventually.TrueAsync(
            () =>
            {
                var leaders = candidates.Select(id => Hosts[id]).Where(h => h.IsLeader).ToArray();
                // Agreement: every candidate sees the same leader.
                leader = leaders.Length == 1 && candidates.All(id => Hosts[id].LeaderId == leaders[0].NodeId) ? leaders[0] : null;
                return leader is not null;
            },
            timeout ?? TimeSpan.FromSeconds(15),
            "one leader that all of " + string.Join(",", candidates) + " agree on");
        return leader!;
    }

    public async Task StopAsync(string id, bool graceful)
    {
        var host = Hosts[id];
        Hosts.Remove(id);
        if (graceful)
        {
            await host.StopAsync(CancellationToken.None);
        }
        else
        {
            await host.StopAsync(transferLeadership: false, CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in Hosts.Values)
        {
            await host.StopAsync(transferLeadership: false, CancellationToken.None);
        }

        Hosts.Clear();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

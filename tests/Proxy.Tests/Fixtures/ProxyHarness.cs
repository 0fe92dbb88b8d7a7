using System.Net;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Routing;

namespace PgRaft.Proxy.Tests.Fixtures;

/// <summary>A real proxy listener on a test port, fed by a publisher the test controls.</summary>
internal sealed class ProxyHarness : IAsyncDisposable
{
    private ProxyHarness(ProxyRoutingPublisher routing, ProxyListener listener)
    {
        Routing = routing;
        Listener = listener;
    }

    public ProxyRoutingPublisher Routing { get; }

    public ProxyListener Listener { get; }

    public int Port => Listener.LocalEndPoint.Port;

    public static ProxyHarness Start(
        ProxyRoutingSnapshot initial,
        ProxyRole role = ProxyRole.ReadWrite,
        ForwardingMode? mode = null,
        TimeSpan? holdTimeout = null,
        int maxConnections = 100,
        long maxReplicaLagBytes = 1024 * 1024,
        int? epollThreads = null,
        TimeSpan? connectTimeout = null,
        TimeSpan? busyPoll = null,
        bool? pinThreads = null,
        int threadNice = 0,
        ProxyEndpoint? localPostgres = null,
        string? localPostgresSocketPath = null)
    {
        var defaults = new ProxyListenerOptions { Role = role, Listen = new IPEndPoint(IPAddress.Loopback, 0) };
        var routing = new ProxyRoutingPublisher(initial);
        for (var attempt = 0; ; attempt++)
        {
            var listener = new ProxyListener(
                new ProxyListenerOptions
                {
                    Role = role,
                    Listen = new IPEndPoint(IPAddress.Loopback, TestPorts.Next()),
                    Forwarding = mode ?? defaults.Forwarding,
                    EpollThreads = epollThreads ?? defaults.EpollThreads,
                    HoldTimeout = holdTimeout ?? TimeSpan.FromSeconds(5),
                    MaxConnections = maxConnections,
                    MaxReplicaLagBytes = maxReplicaLagBytes,
                    ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(3),
                    EpollBusyPoll = busyPoll ?? defaults.EpollBusyPoll,
                    EpollPinThreads = pinThreads ?? defaults.EpollPinThreads,
                    EpollThreadNice = threadNice,
                    LocalPostgres = localPostgres,
                    LocalPostgresSocketPath = localPostgresSocketPath,
                },
                routing);
            try
            {
                listener.Start();
                return new ProxyHarness(routing, listener);
            }
            catch (InvalidOperationException) when (attempt < 5)
            {
                // The port was taken between the check and the bind: try another.
            }
        }
    }

    public static ProxyRoutingSnapshot PrimaryAt(int port) => new(new ProxyEndpoint("127.0.0.1", port), true, [], false);

    public static StandbyCandidate Standby(int port, long lag = 0, bool healthy = true, bool noLoadBalance = false) =>
        new($"standby-{port}", new ProxyEndpoint("127.0.0.1", port), healthy, lag, noLoadBalance);

    public ValueTask DisposeAsync() => Listener.DisposeAsync();
}

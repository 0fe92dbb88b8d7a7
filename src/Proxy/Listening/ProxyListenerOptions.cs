using System.Net;
using PgRaft.Proxy.Forwarding;

namespace PgRaft.Proxy.Listening;

/// <summary>Which servers a listener forwards to.</summary>
internal enum ProxyRole
{
    /// <summary>The primary, while this node is in contact with a majority.</summary>
    ReadWrite,

    /// <summary>Healthy standbys within the lag limit, fewest connections first; the primary as a fallback when allowed.</summary>
    ReadOnly,
}

/// <summary>Settings of one proxy listener.</summary>
internal sealed class ProxyListenerOptions
{
    public required ProxyRole Role { get; init; }

    /// <summary>Address and port to accept clients on.</summary>
    public required IPEndPoint Listen { get; init; }

    /// <summary>Client connections (forwarded or held) beyond this are refused: accepted, logged and closed.</summary>
    public int MaxConnections { get; init; } = 1000;

    /// <summary>How long a connect to the backend may take before the client is closed.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a new client waits for a target to appear (proxyHoldTimeout) before it is closed.</summary>
    public TimeSpan HoldTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Read-only port: standbys lagging more than this many bytes get no new connections.</summary>
    public long MaxReplicaLagBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>How bytes are copied between the two sockets (epoll measured cheapest; it falls back to pooled off Linux x64).</summary>
    public ForwardingMode Forwarding { get; init; } = ForwardingMode.Epoll;

    /// <summary>Bytes per direction per connection (pooled and epoll modes), or pipe size (splice mode).</summary>
    public int BufferSize { get; init; } = 32 * 1024;

    /// <summary>
    /// Epoll mode: how many forwarding threads (each with its own epoll instance, accepting and serving
    /// whole connections, each new one on the least busy thread). Two measured best on 2 cores (-S at
    /// 8 clients 0.93 × direct against 0.71 × with one: one thread serving every packet in turn adds latency).
    /// </summary>
    public int EpollThreads { get; init; } = DefaultEpollThreads;

    public static int DefaultEpollThreads => Math.Min(2, Environment.ProcessorCount);

    /// <summary>
    /// Epoll mode: after serving events, a forwarding thread polls without blocking for this long
    /// before it sleeps in epoll_wait (zero: it sleeps at once). At most 1 ms.
    /// </summary>
    public TimeSpan EpollBusyPoll { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// Epoll mode: bind forwarding thread i to the i-th CPU the process may use (on by default:
    /// interleaved pgbench rounds on 2 cores gained 0.05–0.15 × direct at 8–32 clients, less spread between rounds).
    /// </summary>
    public bool EpollPinThreads { get; init; } = true;

    /// <summary>
    /// Epoll mode: nice value of the forwarding threads (-20 to 19; 0 keeps the process's). A negative
    /// value needs CAP_SYS_NICE; without it the threads keep the process's priority.
    /// </summary>
    public int EpollThreadNice { get; init; }

    /// <summary>TCP keepalive on both sockets: idle time before the first probe.</summary>
    public TimeSpan KeepAliveIdle { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>TCP keepalive: time between probes.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>TCP keepalive: unanswered probes before the connection is dropped.</summary>
    public int KeepAliveCount { get; init; } = 3;

    public int Backlog { get; init; } = 512;

    /// <summary>Throws an exception naming the first bad setting and how to fix it.</summary>
    public void Validate()
    {
        Require(MaxConnections > 0, nameof(MaxConnections), "must be at least 1");
        Require(ConnectTimeout > TimeSpan.Zero, nameof(ConnectTimeout), "must be positive");
        Require(HoldTimeout >= TimeSpan.Zero, nameof(HoldTimeout), "must be zero (refuse at once) or positive");
        Require(MaxReplicaLagBytes >= 0, nameof(MaxReplicaLagBytes), "must be zero or positive");
        Require(BufferSize is >= 4096 and <= 16 * 1024 * 1024, nameof(BufferSize), "must be between 4096 and 16777216 bytes");
        Require(KeepAliveIdle >= TimeSpan.FromSeconds(1), nameof(KeepAliveIdle), "must be at least 1 s");
        Require(KeepAliveInterval >= TimeSpan.FromSeconds(1), nameof(KeepAliveInterval), "must be at least 1 s");
        Require(KeepAliveCount >= 1, nameof(KeepAliveCount), "must be at least 1");
        Require(EpollThreads is >= 1 and <= 64, nameof(EpollThreads), "must be between 1 and 64");
        Require(EpollBusyPoll >= TimeSpan.Zero && EpollBusyPoll <= TimeSpan.FromMilliseconds(1), nameof(EpollBusyPoll), "must be between 0 and 1 ms");
        Require(EpollThreadNice is >= -20 and <= 19, nameof(EpollThreadNice), "must be between -20 and 19");
        Require(Backlog >= 1, nameof(Backlog), "must be at least 1");
    }

    private static void Require(bool condition, string setting, string rule)
    {
        if (!condition)
        {
            throw new ArgumentException($"Proxy setting {setting} {rule}.", setting);
        }
    }
}

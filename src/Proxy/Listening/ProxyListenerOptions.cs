using System.Net;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Routing;

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
    /// before it sleeps in epoll_wait (zero: it sleeps at once). At most 1 ms. Off by default: on 2 cores
    /// shared with PostgreSQL, 20 µs cost +40 % CPU per transaction and 50 µs +100 %, for less throughput.
    /// </summary>
    public TimeSpan EpollBusyPoll { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// Epoll mode: bind forwarding thread i to the i-th CPU the process may use while it serves at least
    /// <see cref="EpollPinMinConnections"/> connections (on by default: interleaved pgbench rounds on 2 cores
    /// gained 0.05–0.15 × direct at 8–32 clients, with less spread between rounds).
    /// </summary>
    public bool EpollPinThreads { get; init; } = true;

    /// <summary>
    /// Epoll mode, with <see cref="EpollPinThreads"/>: a forwarding thread is pinned only while it serves at
    /// least this many connections. With a single busy client a free thread can run where its peer just woke
    /// it, while a pinned one takes a cross-CPU wake-up per packet (in the quietest measured round, -S with one
    /// client: 16 µs per transaction unpinned against 35 pinned; under load the one-client figures are noise).
    /// </summary>
    public int EpollPinMinConnections { get; init; } = 2;

    /// <summary>
    /// Epoll mode: nice value of the forwarding threads (-20 to 19; 0 keeps the process's). A negative
    /// value needs CAP_SYS_NICE; without it the threads keep the process's priority. Measured with
    /// -5 and -10 on a shared 2-core box: no consistent gain, so 0 by default.
    /// </summary>
    public int EpollThreadNice { get; init; }

    /// <summary>TCP keepalive on both sockets: idle time before the first probe.</summary>
    public TimeSpan KeepAliveIdle { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>TCP keepalive: time between probes.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>TCP keepalive: unanswered probes before the connection is dropped.</summary>
    public int KeepAliveCount { get; init; } = 3;

    public int Backlog { get; init; } = 512;

    /// <summary>
    /// This node's own PostgreSQL as the routing names it (host:port). When the target is this endpoint and
    /// <see cref="LocalPostgresSocketPath"/> is set, the epoll loops connect through the Unix socket instead
    /// of loopback TCP (measured: far less kernel work per packet). PostgreSQL then sees a `local`
    /// connection: pg_hba.conf needs `local` rules that accept what its `host` rules accept. Off by default.
    /// </summary>
    public ProxyEndpoint? LocalPostgres { get; init; }

    /// <summary>Path of this node's PostgreSQL Unix socket file, e.g. /var/run/postgresql/.s.PGSQL.5432 (with <see cref="LocalPostgres"/>).</summary>
    public string? LocalPostgresSocketPath { get; init; }

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
        Require(EpollPinMinConnections >= 1, nameof(EpollPinMinConnections), "must be at least 1");
        Require(EpollThreadNice is >= -20 and <= 19, nameof(EpollThreadNice), "must be between -20 and 19");
        Require(Backlog >= 1, nameof(Backlog), "must be at least 1");
        Require(LocalPostgres is null == LocalPostgresSocketPath is null, nameof(LocalPostgresSocketPath), "must be set together with LocalPostgres (or neither)");
        Require(
            LocalPostgresSocketPath is null || (Path.IsPathFullyQualified(LocalPostgresSocketPath) && System.Text.Encoding.UTF8.GetByteCount(LocalPostgresSocketPath) <= 107),
            nameof(LocalPostgresSocketPath),
            "must be an absolute path of at most 107 bytes (e.g. /var/run/postgresql/.s.PGSQL.5432)");
    }

    private static void Require(bool condition, string setting, string rule)
    {
        if (!condition)
        {
            throw new ArgumentException($"Proxy setting {setting} {rule}.", setting);
        }
    }
}

using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Configuration;
using PgRaft.Node.Keeper;
using PgRaft.Node.Leader;
using PgRaft.PgControl.Instance;
using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Routing;
using PgRaft.Raft.Core;
using PgRaft.Raft.Hosting;

namespace PgRaft.Node.Hosting;

/// <summary>
/// One running node: Raft host and cluster state machine, keeper, sentinel (while leading), lease, HTTP API and proxy
/// listeners, composed from <see cref="NodeOptions"/>. <see cref="RunAsync"/> runs until cancelled, then stops cleanly.
/// </summary>
internal sealed partial class NodeRuntime : IAsyncDisposable
{
    private static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan KeeperInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan SentinelInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RemoteCallTimeout = TimeSpan.FromMilliseconds(400);

    private readonly NodeOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly MonotonicClock _clock;
    private readonly ClusterStateMachine _stateMachine;
    private readonly RaftHost _raft;
    private readonly PostgresInstance _postgres;
    private readonly LeaderDuties _duties;
    private readonly LeaseKeeper _lease;
    private readonly KeeperService _keeper;
    private readonly LeaderClient _leaderClient;
    private readonly ApiServer _api;
    private readonly ProxyRoutingPublisher _routing = new();
    private readonly ProxyListener _readWrite;
    private readonly ProxyListener _readOnly;
    private readonly Member _self;
    private readonly LoopSignal _reportSignal = new();
    private readonly LoopSignal _keeperSignal = new();
    private readonly LoopSignal _leaseSignal = new();
    private readonly LoopSignal _sentinelSignal = new();
    private readonly LoopSignal _routingSignal = new();

    /// <summary>
    /// Cancelled when the Raft leader changes: a lease renewal or report still waiting on the old leader (paused, cut
    /// off) gives way at once to one sent to the new leader. Waiting out its timeout instead cost the primary its lease
    /// in 5 of 12 faults on the Raft leader (a standby) in the Jepsen-style soak.
    /// </summary>
    private CancellationTokenSource _leaderChange = new();
    private string? _lastLeader;
    private readonly LeaderContact _leaderContact = new(TimeSpan.FromMilliseconds(250));
    private volatile IReadOnlyList<NodeHealth>? _health;

    public NodeRuntime(NodeOptions options, ILoggerFactory loggers, TimeProvider time)
    {
        _options = options;
        _loggers = loggers;
        _logger = loggers.CreateLogger("pgraft");
        _time = time;
        _clock = new MonotonicClock(time);
        var secret = ReadClusterSecret(options);
        var spec = ClusterSpec.Default;

        _self = new Member(
            options.NodeId,
            Advertised(options.Raft.Bind, options.Raft.Advertise),
            Advertised(options.Postgres.Bind, options.Postgres.Advertise),
            ProxyAdvertised(options),
            Advertised(options.Api.Bind, options.Api.Advertise),
            options.Tags.ToMemberTags());

        _stateMachine = new ClusterStateMachine(loggers.CreateLogger<ClusterStateMachine>());
        _raft = new RaftHost(
            new RaftHostOptions
            {
                NodeId = options.NodeId,
                DataDirectory = Path.Combine(options.DataDir, "raft"),
                BindEndPoint = ToEndPoint(options.Raft.Bind),
                AdvertisedAddress = _self.RaftAddress,
                InitialMembers = options.Peers.ToDictionary(p => p.Id, p => p.Raft, StringComparer.Ordinal),
                ClusterSecret = Encoding.UTF8.GetBytes(secret),
                // 500–1000 ms: a lost Raft leader is replaced well within the primary's lease (1.5 s, fencing 0.3 s
                // early, renewed every 375 ms), so losing the leader's node does not cost the primary its lease.
                ElectionTicks = 10,
            },
            _stateMachine,
            loggers,
            time);

        var postgresBind = HostPort(options.Postgres.Bind);
        _postgres = new PostgresInstance(
            new PostgresOptions
            {
                DataDirectory = Path.Combine(options.DataDir, "postgres"),
                BinDirectory = options.Postgres.BinDir,
                Port = postgresBind.Port,
                ListenAddresses = postgresBind.IsWildcard ? "*" : postgresBind.Host,
                ConnectHost = postgresBind.IsWildcard ? "127.0.0.1" : postgresBind.Host,
                OsUser = Environment.IsPrivilegedProcess ? options.Postgres.OsUser : null,
                Superuser = PostgresCredentials.FromFile(options.Postgres.SuperuserName, options.Postgres.SuperuserPasswordFile!),
                Replication = PostgresCredentials.FromFile(options.Postgres.ReplicationUser, options.Postgres.ReplicationPasswordFile!),
                ApplicationName = options.NodeId,
                GuardCommand = GuardCommand(),
                LogFile = Path.Combine(options.DataDir, "postgres.log"),
                // 1 MB WAL segments: a promotion copies the last segment onto the new timeline, zero-filling the rest, and
                // with 16 MB that alone took 100-250 ms of every failover and switchover here (1 MB: 35-45 ms).
                // Bootstrap.InitdbArgs come after, so "--wal-segsize=16" there restores PostgreSQL's default.
                InitdbArguments = ["--encoding=UTF8", "--locale=C", "--wal-segsize=1", .. options.Bootstrap.InitdbArgs],
            },
            loggers.CreateLogger<PostgresInstance>());

        _duties = new LeaderDuties(_clock);
        _lease = new LeaseKeeper(_clock, spec.LeaseTimeout, spec.FenceMargin);
        var signer = new RequestSigner(secret, time);
        _leaderClient = new LeaderClient(signer);
        _keeper = new KeeperService(options.NodeId, _postgres, () => _stateMachine.Current, _lease, SendReportAsync, () => _health, ProposeThroughLeaderAsync, options.Bootstrap, loggers.CreateLogger<KeeperService>());
        _api = new ApiServer(ToEndPoint(options.Api.Bind), new ControlPlane(this), signer, loggers);

        _readWrite = new ProxyListener(
            new ProxyListenerOptions { Role = ProxyRole.ReadWrite, Listen = ToEndPoint(options.Proxy.ReadWriteBind), MaxConnections = options.Proxy.MaxClientConnections, HoldTimeout = spec.ProxyHoldTimeout },
            _routing,
            loggers.CreateLogger("PgRaft.Proxy.ReadWrite"),
            time);
        _readOnly = new ProxyListener(
            new ProxyListenerOptions { Role = ProxyRole.ReadOnly, Listen = ToEndPoint(options.Proxy.ReadOnlyBind), MaxConnections = options.Proxy.MaxClientConnections, HoldTimeout = spec.ProxyHoldTimeout, MaxReplicaLagBytes = spec.MaxReplicaLag },
            _routing,
            loggers.CreateLogger("PgRaft.Proxy.ReadOnly"),
            time);
    }

    public ClusterState State => _stateMachine.Current;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_options.DataDir);
        _raft.SoftStateChanged += (_, soft) =>
        {
            LogMessages.RaftRoleChanged(_logger, soft.Role.ToString(), soft.Term, soft.Leader ?? "none");
            _routingSignal.Set();
            if (soft.Leader != _lastLeader)
            {
                _lastLeader = soft.Leader;
                // Not disposed: a loop may be reading its token right now. Its callbacks run off the Raft loop.
                _ = Interlocked.Exchange(ref _leaderChange, new CancellationTokenSource()).CancelAsync();
                _lease.RenewNow();
                _leaseSignal.Set();
                _reportSignal.Set();
            }
        };
        _stateMachine.Changed += _ =>
        {
            // A committed change may need an answer at once: a promotion, a switchover, a new sync set, a new route.
            _keeperSignal.Set();
            _leaseSignal.Set();
            _reportSignal.Set();
            _sentinelSignal.Set();
            _routingSignal.Set();
        };
        await _raft.StartAsync(cancellationToken);
        await _api.StartAsync(cancellationToken);
        _readWrite.Start();
        _readOnly.Start();
        LogMessages.NodeStarted(_logger, _options.NodeId, _self.RaftAddress, _self.ApiAddress, _options.Proxy.ReadWriteBind, _options.Proxy.ReadOnlyBind, _self.PostgresAddress);
        await NotifyReadyAsync(cancellationToken);

        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loops = new List<Task>
        {
            LoopAsync("report", NextReportInterval, _reportSignal, ReportOnceAsync, stopping.Token),
            LoopAsync("keeper", KeeperInterval, _keeperSignal, ReconcileOnceAsync, stopping.Token),
            LoopAsync("lease", TimeSpan.FromMilliseconds(50), _leaseSignal, RenewLeaseOnceAsync, stopping.Token),
            LoopAsync("sentinel", SentinelInterval, _sentinelSignal, SentinelOnceAsync, stopping.Token),
            LoopAsync("membership", TimeSpan.FromSeconds(1), new LoopSignal(), RegisterOnceAsync, stopping.Token),
            LoopAsync("routing", TimeSpan.FromMilliseconds(100), _routingSignal, PublishRoutingOnceAsync, stopping.Token),
        };
        if (_systemd is not null)
        {
            loops.Add(LoopAsync("systemd", SystemdInterval, new LoopSignal(), NotifySystemdOnceAsync, stopping.Token));
        }

        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, _time, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }

        LogMessages.NodeStopping(_logger, _options.NodeId);
        await NotifyStoppingAsync();
        await stopping.CancelAsync();
        await Task.WhenAll(loops);
    }

    private Task LoopAsync(string name, TimeSpan interval, LoopSignal signal, Func<CancellationToken, Task> once, CancellationToken cancellationToken) =>
        LoopAsync(name, () => interval, signal, once, cancellationToken);

    private async Task LoopAsync(string name, Func<TimeSpan> interval, LoopSignal signal, Func<CancellationToken, Task> once, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            _liveness.Beat(name, _clock.Now);
            signal.Consume();
            try
            {
                await once(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (NotLeaderException ex)
            {
                // Leadership moved mid-round (a handover, an election): the next round asks the new leader.
                LogMessages.LoopLostLeader(_logger, name, ex.Message);
            }
            catch (Exception ex)
            {
                LogMessages.LoopFailed(_logger, name, ex);
            }

            try
            {
                await signal.WaitAsync(interval(), _time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One keeper step; after an action the node reports at once and plans its next step without waiting.</summary>
    private async Task ReconcileOnceAsync(CancellationToken cancellationToken)
    {
        if (await _keeper.ReconcileOnceAsync(cancellationToken))
        {
            _reportSignal.Set();
            _keeperSignal.Set();
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _readWrite.DisposeAsync();
        await _readOnly.DisposeAsync();
        await _api.DisposeAsync();
        try
        {
            await _raft.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _raft.DisposeAsync();
        await _postgres.DisposeAsync();
        _leaderClient.Dispose();
        _systemd?.Dispose();
    }

    internal static string ReadClusterSecret(NodeOptions options) =>
        options.ClusterSecretFile is { } file ? File.ReadAllText(file).Trim() : options.ClusterSecret!.Trim();

    private static string Advertised(string bind, string? advertise) =>
        NodeOptionsValidator.Advertised(bind, advertise)?.ToString()
        ?? throw new InvalidOperationException($"no advertised address for {bind}: the configuration was not validated");

    private static string ProxyAdvertised(NodeOptions options)
    {
        var readWrite = HostPort(options.Proxy.ReadWriteBind);
        var host = options.Proxy.AdvertiseHost ?? (readWrite.IsWildcard ? HostPort(Advertised(options.Raft.Bind, options.Raft.Advertise)).Host : readWrite.Host);
        return new HostPort(host, readWrite.Port).ToString();
    }

    private static HostPort HostPort(string text) =>
        Configuration.HostPort.TryParse(text, out var value, out var error) ? value.Value : throw new InvalidOperationException(error);

    private static IPEndPoint ToEndPoint(string text)
    {
        var hostPort = HostPort(text);
        var address = hostPort.IsWildcard ? IPAddress.Any
            : IPAddress.TryParse(hostPort.Host, out var parsed) ? parsed
            : Dns.GetHostAddresses(hostPort.Host).FirstOrDefault() ?? throw new InvalidOperationException($"'{hostPort.Host}' resolves to no address");
        return new IPEndPoint(address, hostPort.Port);
    }

    /// <summary>This very program, as <c>pgraft guard</c>: the fencing guard between pgraft and the postmaster.</summary>
    private static IReadOnlyList<string> GuardCommand()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell the path of the running pgraft program");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? [process, Path.Combine(AppContext.BaseDirectory, typeof(NodeRuntime).Assembly.GetName().Name + ".dll"), "guard"]
            : [process, "guard"];
    }

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
}

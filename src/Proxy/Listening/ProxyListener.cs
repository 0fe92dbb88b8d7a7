using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Metrics;
using PgRaft.Proxy.Routing;

namespace PgRaft.Proxy.Listening;

/// <summary>
/// Accepts clients on one port and forwards each to the target its routing source names now.
/// When the routing changes, connections whose target is no longer valid are closed at once.
/// </summary>
internal sealed class ProxyListener : IAsyncDisposable, IEpollAcceptor
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How soon a held read-write client tries a target it could not reach again, if the routing stays.</summary>
    private static readonly TimeSpan ConnectRetryInterval = TimeSpan.FromMilliseconds(100);

    private readonly ProxyListenerOptions _options;
    private readonly IProxyRoutingSource _routing;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IForwarder _forwarder;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly HashSet<ProxyConnection> _connections = [];
    private readonly Dictionary<ProxyEndpoint, int> _connectionsPerTarget = [];
    private Socket? _listenSocket;
    private Task _acceptLoop = Task.CompletedTask;
    private Task _watchLoop = Task.CompletedTask;
    private int _clients;
    private int _handlers;
    private int _rotation;

    public ProxyListener(ProxyListenerOptions options, IProxyRoutingSource routing, ILogger? logger = null, TimeProvider? time = null)
    {
        options.Validate();
        _options = options;
        _routing = routing;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _forwarder = ForwarderFactory.Create(options, _logger);
    }

    public ProxyCounters Counters { get; } = new();

    /// <summary>The bound address (useful when listening on port 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)(_listenSocket?.LocalEndPoint ?? throw new InvalidOperationException("The proxy listener has not been started."));

    /// <summary>Binds the port (throwing if it is taken) and starts accepting.</summary>
    public void Start()
    {
        if (_listenSocket is not null)
        {
            throw new InvalidOperationException("The proxy listener is already started.");
        }

        var socket = new Socket(_options.Listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(_options.Listen);
            socket.Listen(_options.Backlog);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new InvalidOperationException($"The {_options.Role} proxy cannot listen on {_options.Listen}: {e.Message}. Choose a free port or stop what holds it.", e);
        }

        _listenSocket = socket;
        LogMessages.ProxyListening(_logger, _options.Role, LocalEndPoint, _options.Forwarding);
        _watchLoop = WatchRoutingAsync(_stopping.Token);
        if (_forwarder is EpollForwarder epoll)
        {
            // The epoll loops accept, route, connect and forward themselves: no task or thread hop per client.
            epoll.Listen(socket, this);
        }
        else
        {
            _acceptLoop = AcceptLoopAsync(socket, _stopping.Token);
        }
    }

    /// <summary>Connections per epoll forwarding thread (empty in other modes).</summary>
    internal int[] ConnectionsPerForwardingThread => _forwarder is EpollForwarder epoll ? epoll.LoadPerLoop : [];

    /// <summary>Kernel thread ids of the epoll forwarding threads (0 until a thread has started; empty in other modes).</summary>
    internal int[] ForwardingThreadIds => _forwarder is EpollForwarder epoll ? epoll.LoopThreadIds : [];

    /// <summary>Stops accepting, closes every connection and waits for the handlers to finish.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync();
        if (_forwarder is EpollForwarder epoll)
        {
            try
            {
                await epoll.StopListeningAsync().WaitAsync(DrainTimeout, _time, cancellationToken);
            }
            catch (TimeoutException)
            {
                // A loop that does not answer accepts nothing either; disposing the forwarder ends it.
            }
        }

        _listenSocket?.Dispose();
        await _acceptLoop;
        await _watchLoop;
        foreach (var connection in SnapshotConnections())
        {
            connection.Close();
        }

        var start = _time.GetTimestamp();
        while (Volatile.Read(ref _handlers) > 0 && _time.GetElapsedTime(start) < DrainTimeout)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), _time, cancellationToken);
        }

        (_forwarder as IDisposable)?.Dispose();
        LogMessages.ProxyStopped(_logger, _options.Role, Counters.Total);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listenSocket, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listenSocket.AcceptAsync(cancellationToken);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // EMFILE and friends: keep serving the connections we have, try again shortly.
                LogMessages.AcceptFailed(_logger, _options.Role, e.SocketErrorCode, e);
                await Task.Delay(TimeSpan.FromMilliseconds(50), _time, CancellationToken.None);
                continue;
            }

            if (Admit(client))
            {
                _ = HandleClientAsync(client, null, tuned: false, cancellationToken);
            }
        }
    }

    /// <summary>Counts a new client, or refuses it (logged, closed) beyond the connection limit.</summary>
    private bool Admit(Socket client)
    {
        Interlocked.Increment(ref _handlers);
        if (Interlocked.Increment(ref _clients) <= _options.MaxConnections && !_stopping.IsCancellationRequested)
        {
            return true;
        }

        if (!_stopping.IsCancellationRequested)
        {
            Counters.AddRefused();
            LogMessages.RefusedAtLimit(_logger, _options.Role, SafeRemoteEndPoint(client), _options.MaxConnections);
        }

        client.Dispose();
        Leave();
        return false;
    }

    private void Leave()
    {
        Interlocked.Decrement(ref _clients);
        Interlocked.Decrement(ref _handlers);
    }

    private static EndPoint? SafeRemoteEndPoint(Socket client)
    {
        try
        {
            return client.RemoteEndPoint;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>
    /// Epoll loop thread: a new client. When a target is known by address, the whole connection is
    /// served on the loops (connect included); holding for a target or a DNS look-up goes async.
    /// </summary>
    void IEpollAcceptor.OnAccepted(EpollLoop loop, int descriptor)
    {
        Socket client;
        var handle = new SafeSocketHandle(descriptor, ownsHandle: true);
        try
        {
            client = new Socket(handle);
        }
        catch (SocketException e)
        {
            handle.Dispose();
            LogMessages.ClientFailed(_logger, _options.Role, e);
            return;
        }

        if (!Admit(client))
        {
            return;
        }

        ProxyRoute? route = null;
        Socket? backend = null;
        try
        {
            SocketTuning.Apply(client, _options);
            route = ChooseAndReserve(_routing.Current);
            if (route is { } chosen && _options.LocalPostgresSocketPath is { } localSocket && chosen.Target == _options.LocalPostgres)
            {
                backend = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                var connection = new ProxyConnection(client, backend, chosen, _forwarder, Counters);
                ((EpollForwarder)_forwarder).Start(new LoopSession(this, connection, new UnixDomainSocketEndPoint(localSocket), _options.ConnectTimeout, Counters), loop);
                return;
            }

            if (route is { } target && IPAddress.TryParse(target.Target.Host, out var address))
            {
                backend = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                SocketTuning.Apply(backend, _options);
                var connection = new ProxyConnection(client, backend, target, _forwarder, Counters);
                ((EpollForwarder)_forwarder).Start(new LoopSession(this, connection, new IPEndPoint(address, target.Target.Port), _options.ConnectTimeout, Counters), loop);
                return;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            LogMessages.ClientFailed(_logger, _options.Role, e);
            if (route is { } reserved)
            {
                Release(reserved.Target);
            }

            backend?.Dispose();
            client.Dispose();
            Leave();
            return;
        }

        _ = HandleClientAsync(client, route, tuned: true, _stopping.Token);
    }

    void IEpollAcceptor.OnAcceptFailed(int errno) =>
        LogMessages.AcceptPaused(_logger, _options.Role, Marshal.GetPInvokeErrorMessage(errno));

    /// <summary>Epoll loop thread: the session's backend is connected.</summary>
    internal void OnSessionConnected(LoopSession session)
    {
        var connection = session.Connection;
        Counters.ConnectionOpened();
        lock (_gate)
        {
            _connections.Add(connection);
        }

        // The routing may have changed since the choice: check again now that the watcher sees this connection.
        if (!TargetSelection.MayStay(_options.Role, _routing.Current, connection.Route))
        {
            Counters.AddCut(1);
            connection.Close();
        }
    }

    /// <summary>
    /// Epoll loop thread: the session's backend could not be reached. A read-write client has sent nothing yet that
    /// was read, so it is held like a client without a target (a refused primary is usually one being replaced).
    /// </summary>
    internal void OnSessionConnectFailed(LoopSession session, string reason)
    {
        var target = session.Connection.Route.Target;
        Release(target);
        Counters.AddConnectFailure();
        session.Backend.Dispose();
        if (_stopping.IsCancellationRequested)
        {
            session.Client.Dispose();
            Leave();
            return;
        }

        LogMessages.BackendConnectFailed(_logger, _options.Role, target, reason);
        if (HoldsAfterConnectFailure)
        {
            _ = HandleClientAsync(session.Client, null, tuned: true, _stopping.Token, new FailedTarget(target, _routing.Current.Version, _time.GetTimestamp()));
            return;
        }

        session.Client.Dispose();
        Leave();
    }

    private bool HoldsAfterConnectFailure => _options.Role == ProxyRole.ReadWrite && HoldTimeout > TimeSpan.Zero;

    /// <summary>The hold timeout in force: the routing source's (the cluster spec, changed at run time) or the configured one.</summary>
    private TimeSpan HoldTimeout => HoldTimeoutOf(_routing.Current);

    private TimeSpan HoldTimeoutOf(ProxyRoutingSnapshot snapshot) => snapshot.HoldTimeout ?? _options.HoldTimeout;

    /// <summary>A target a held client could not reach, at which routing version, and when its hold started.</summary>
    private readonly record struct FailedTarget(ProxyEndpoint Target, long RoutingVersion, long HeldSince);

    /// <summary>A client counts once as held, however often it waits.</summary>
    private sealed class HoldCount
    {
        private bool _counted;

        public void Count(ProxyCounters counters)
        {
            if (!_counted)
            {
                _counted = true;
                counters.AddHeld();
            }
        }
    }

    /// <summary>Epoll loop thread: the session's forwarding ended (normally when <paramref name="error"/> is null).</summary>
    internal void OnSessionEnded(LoopSession session, Exception? error)
    {
        var connection = session.Connection;
        lock (_gate)
        {
            _connections.Remove(connection);
        }

        Release(connection.Route.Target);
        connection.Close(reset: error is not null);

        // The place is free before the counter says so: whoever sees Active drop can connect again.
        Leave();
        Counters.ConnectionClosed();
    }

    private async Task HandleClientAsync(Socket client, ProxyRoute? reserved, bool tuned, CancellationToken cancellationToken, FailedTarget? failed = null)
    {
        try
        {
            if (!tuned)
            {
                SocketTuning.Apply(client, _options);
            }

            await ServeAsync(client, reserved, failed, cancellationToken);
        }
        catch (Exception e)
        {
            LogMessages.ClientFailed(_logger, _options.Role, e);
            client.Dispose();
        }
        finally
        {
            Leave();
        }
    }

    /// <summary>Serves a client asynchronously; <paramref name="reserved"/> is a route already chosen and counted, if any.</summary>
    private async Task ServeAsync(Socket client, ProxyRoute? reserved, FailedTarget? failed, CancellationToken cancellationToken)
    {
        var heldSince = failed?.HeldSince ?? _time.GetTimestamp();
        var hold = new HoldCount();
        ProxyRoute chosen;
        Socket? backend;
        while (true)
        {
            var route = reserved ?? await WaitForRouteAsync(heldSince, failed, hold, cancellationToken);
            reserved = null;
            if (route is not { } next)
            {
                Counters.AddHoldTimeout();
                LogMessages.NoTargetInTime(_logger, _options.Role, client.RemoteEndPoint, HoldTimeout);
                client.Dispose();
                return;
            }

            chosen = next;
            backend = await ConnectAsync(chosen.Target, logFailure: failed is null, cancellationToken);
            if (backend is not null)
            {
                break;
            }

            Release(chosen.Target);
            Counters.AddConnectFailure();
            if (!HoldsAfterConnectFailure || cancellationToken.IsCancellationRequested || _time.GetElapsedTime(heldSince) >= HoldTimeout)
            {
                client.Dispose();
                return;
            }

            failed = new FailedTarget(chosen.Target, _routing.Current.Version, heldSince);
        }

        var connection = new ProxyConnection(client, backend, chosen, _forwarder, Counters);
        Counters.ConnectionOpened();
        lock (_gate)
        {
            _connections.Add(connection);
        }

        try
        {
            // The routing may have changed after the choice but before the watcher could see this
            // connection: check again now that it is registered.
            if (!TargetSelection.MayStay(_options.Role, _routing.Current, chosen))
            {
                Counters.AddCut(1);
                connection.Close();
            }

            await connection.RunAsync();
        }
        finally
        {
            lock (_gate)
            {
                _connections.Remove(connection);
            }

            Release(chosen.Target);
            Counters.ConnectionClosed();
        }
    }

    /// <summary>
    /// The route for a new client; waits, up to the hold timeout from <paramref name="heldSince"/>, for one. The route's
    /// target is reserved (counted). A target the client just failed to reach is tried again only once the routing
    /// changed or <see cref="ConnectRetryInterval"/> passed.
    /// </summary>
    private async Task<ProxyRoute?> WaitForRouteAsync(long heldSince, FailedTarget? failed, HoldCount hold, CancellationToken cancellationToken)
    {
        if (failed is not null)
        {
            hold.Count(Counters);
        }

        while (true)
        {
            var snapshot = _routing.Current;
            var route = ChooseAndReserve(snapshot);
            var retryTooSoon = route is { } candidate && failed is { } f && candidate.Target == f.Target && snapshot.Version == f.RoutingVersion;
            if (route is not null && !retryTooSoon)
            {
                return route;
            }

            if (route is { } early)
            {
                Release(early.Target);
            }

            hold.Count(Counters);
            var remaining = HoldTimeoutOf(snapshot) - _time.GetElapsedTime(heldSince);
            if (remaining <= TimeSpan.Zero)
            {
                return null;
            }

            var wait = retryTooSoon && remaining > ConnectRetryInterval ? ConnectRetryInterval : remaining;
            try
            {
                await _routing.WaitForChangeAsync(snapshot.Version, cancellationToken).WaitAsync(wait, _time, cancellationToken);
            }
            catch (TimeoutException) when (retryTooSoon && wait < remaining)
            {
                failed = null;
            }
            catch (TimeoutException)
            {
                return null;
            }
        }
    }

    private ProxyRoute? ChooseAndReserve(ProxyRoutingSnapshot snapshot)
    {
        lock (_gate)
        {
            var route = TargetSelection.Choose(_options.Role, snapshot, snapshot.MaxReplicaLagBytes ?? _options.MaxReplicaLagBytes, ConnectionsTo, _rotation++);
            if (route is { } chosen)
            {
                _connectionsPerTarget[chosen.Target] = ConnectionsTo(chosen.Target) + 1;
            }

            return route;
        }
    }

    private int ConnectionsTo(ProxyEndpoint target) => _connectionsPerTarget.GetValueOrDefault(target);

    private void Release(ProxyEndpoint target)
    {
        lock (_gate)
        {
            var remaining = ConnectionsTo(target) - 1;
            if (remaining > 0)
            {
                _connectionsPerTarget[target] = remaining;
            }
            else
            {
                _connectionsPerTarget.Remove(target);
            }
        }
    }

    private async Task<Socket?> ConnectAsync(ProxyEndpoint target, bool logFailure, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        Socket? backend = null;
        try
        {
            var address = await target.ResolveAsync(timeout.Token);
            backend = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            SocketTuning.Apply(backend, _options);
            await _forwarder.ConnectAsync(backend, address, timeout.Token);
            return backend;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or InvalidOperationException)
        {
            backend?.Dispose();
            if (!cancellationToken.IsCancellationRequested && logFailure)
            {
                LogMessages.BackendConnectFailed(_logger, _options.Role, target, e.Message);
            }

            return null;
        }
    }

    private async Task WatchRoutingAsync(CancellationToken cancellationToken)
    {
        var known = _routing.Current.Version;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await _routing.WaitForChangeAsync(known, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var snapshot = _routing.Current;
            known = snapshot.Version;
            List<ProxyConnection>? invalid = null;
            lock (_gate)
            {
                foreach (var connection in _connections)
                {
                    if (!connection.IsClosed && !TargetSelection.MayStay(_options.Role, snapshot, connection.Route))
                    {
                        (invalid ??= []).Add(connection);
                    }
                }
            }

            if (invalid is null)
            {
                continue;
            }

            foreach (var connection in invalid)
            {
                connection.Close();
            }

            // Counted once closed: whoever sees the count can rely on the cut.
            Counters.AddCut(invalid.Count);
            LogMessages.ConnectionsCut(_logger, _options.Role, invalid.Count, snapshot.Version);
        }
    }

    private ProxyConnection[] SnapshotConnections()
    {
        lock (_gate)
        {
            return [.. _connections];
        }
    }
}

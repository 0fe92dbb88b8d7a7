using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Routing;

namespace PgRaft.Proxy;

internal static partial class LogMessages
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "{Role} proxy listening on {Endpoint} ({Forwarding} forwarding)")]
    public static partial void ProxyListening(ILogger logger, ProxyRole role, IPEndPoint endpoint, ForwardingMode forwarding);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "{Role} proxy stopped after {Total} forwarded connections")]
    public static partial void ProxyStopped(ILogger logger, ProxyRole role, long total);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "{Role} proxy refused client {Client}: the limit of {MaxConnections} connections is reached")]
    public static partial void RefusedAtLimit(ILogger logger, ProxyRole role, EndPoint? client, int maxConnections);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "{Role} proxy closed client {Client}: no target appeared within {HoldTimeout}")]
    public static partial void NoTargetInTime(ILogger logger, ProxyRole role, EndPoint? client, TimeSpan holdTimeout);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "{Role} proxy could not connect to {Target}: {Reason}")]
    public static partial void BackendConnectFailed(ILogger logger, ProxyRole role, ProxyEndpoint target, string reason);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "{Role} proxy closed {Count} connections whose target is no longer valid (routing version {Version})")]
    public static partial void ConnectionsCut(ILogger logger, ProxyRole role, int count, long version);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "{Role} proxy failed to accept a client ({Error})")]
    public static partial void AcceptFailed(ILogger logger, ProxyRole role, SocketError error, Exception exception);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "{Forwarding} forwarding is not available here ({Reason}); using pooled buffers")]
    public static partial void ForwardingUnavailable(ILogger logger, ForwardingMode forwarding, string reason);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Warning, Message = "{Role} proxy failed while serving a client")]
    public static partial void ClientFailed(ILogger logger, ProxyRole role, Exception exception);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Warning, Message = "{Role} proxy failed to accept a client ({Reason}); accepting again in 50 ms")]
    public static partial void AcceptPaused(ILogger logger, ProxyRole role, string reason);
}

using System.Net;
using Microsoft.Extensions.Logging;
using PgRaft.Raft.Core;

namespace PgRaft.Raft;

internal static partial class LogMessages
{
    // Transport: 2000-2099
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Raft transport of {NodeId} listening on {EndPoint} (TLS: {Tls})")]
    public static partial void TransportListening(this ILogger logger, string nodeId, EndPoint endPoint, bool tls);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Connected to Raft peer {PeerId} at {EndPoint}")]
    public static partial void PeerConnected(this ILogger logger, string peerId, EndPoint endPoint);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Connection to Raft peer {PeerId} at {EndPoint} failed or closed: {Reason}; retrying in {DelayMs} ms")]
    public static partial void PeerConnectFailed(this ILogger logger, string peerId, EndPoint endPoint, string reason, long delayMs);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "Raft peer {PeerId} at {EndPoint} rejected: {Reason}. Check that every node uses the same cluster secret. (Logged once until the peer authenticates.)")]
    public static partial void PeerAuthenticationFailedOutbound(this ILogger logger, string peerId, EndPoint endPoint, string reason);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Inbound Raft connection from {RemoteEndPoint} rejected: {Reason}. Check that every node uses the same cluster secret. (Logged once until that peer authenticates.)")]
    public static partial void PeerAuthenticationFailedInbound(this ILogger logger, EndPoint? remoteEndPoint, string reason);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Accepted Raft peer {PeerId} from {RemoteEndPoint}")]
    public static partial void PeerAccepted(this ILogger logger, string peerId, EndPoint? remoteEndPoint);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "Raft peer {PeerId} at {RemoteEndPoint} sent a malformed frame; dropping the connection: {Reason}")]
    public static partial void MalformedFrame(this ILogger logger, string peerId, EndPoint? remoteEndPoint, string reason);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Raft peer {PeerId} at {RemoteEndPoint} sent a frame of {Length} bytes, over the limit of {Limit} (MaxFrameBytes); dropping the connection")]
    public static partial void OversizedFrameReceived(this ILogger logger, string peerId, EndPoint? remoteEndPoint, long length, int limit);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Raft message {Type} to {PeerId} encodes to {Length} bytes, over the limit of {Limit} (MaxFrameBytes); dropped")]
    public static partial void OversizedFrameNotSent(this ILogger logger, MessageType type, string peerId, long length, int limit);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Debug, Message = "Send queue to Raft peer {PeerId} is full; message {Type} dropped")]
    public static partial void SendQueueFull(this ILogger logger, string peerId, MessageType type);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Debug, Message = "No route to Raft peer {PeerId}; message {Type} dropped")]
    public static partial void UnknownPeer(this ILogger logger, string peerId, MessageType type);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Raft peer {PeerId} sent a message claiming to be from {From} to {To}; dropped")]
    public static partial void MisaddressedMessage(this ILogger logger, string peerId, string from, string to);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Debug, Message = "Inbound Raft connection from {PeerId} at {RemoteEndPoint} closed: {Reason}")]
    public static partial void InboundClosed(this ILogger logger, string peerId, EndPoint? remoteEndPoint, string reason);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Debug, Message = "Incoming Raft message queue is full; message {Type} from {PeerId} dropped")]
    public static partial void IncomingQueueFull(this ILogger logger, string peerId, MessageType type);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Warning, Message = "Inbound Raft handshake from {RemoteEndPoint} failed: {Reason} (logged once per address)")]
    public static partial void InboundHandshakeFailed(this ILogger logger, EndPoint? remoteEndPoint, string reason);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Warning, Message = "Raft transport accept loop error: {Reason}")]
    public static partial void AcceptFailed(this ILogger logger, string reason);
}

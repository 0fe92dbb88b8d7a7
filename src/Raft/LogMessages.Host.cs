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

internal static partial class LogMessages
{
    // Host: 2100-2199
    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "Raft node {NodeId} bootstrapped a new cluster with voters {Voters}")]
    public static partial void Bootstrapped(this ILogger logger, string nodeId, string voters);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Raft node {NodeId} started: snapshot index {SnapshotIndex}, {Entries} log entries, term {Term}")]
    public static partial void HostStarted(this ILogger logger, string nodeId, long snapshotIndex, int entries, long term);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "Raft node {NodeId} stopped")]
    public static partial void HostStopped(this ILogger logger, string nodeId);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Raft node {NodeId} is {Role} in term {Term}; leader {Leader}")]
    public static partial void SoftStateChanged(this ILogger logger, string nodeId, RaftRole role, long term, string? leader);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Information, Message = "Raft node {NodeId} took a snapshot at index {Index} ({Bytes} bytes) and compacted its log")]
    public static partial void SnapshotTaken(this ILogger logger, string nodeId, long index, int bytes);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Information, Message = "Raft node {NodeId} restored a snapshot at index {Index}, term {Term}")]
    public static partial void SnapshotRestored(this ILogger logger, string nodeId, long index, long term);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Information, Message = "Raft leader {NodeId} is stopping: transferring leadership to {Target}")]
    public static partial void TransferOnShutdown(this ILogger logger, string nodeId, string target);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Information, Message = "Raft node {NodeId} handed leadership over; leader is now {Leader}")]
    public static partial void TransferOnShutdownDone(this ILogger logger, string nodeId, string? leader);

    [LoggerMessage(EventId = 2108, Level = LogLevel.Warning, Message = "Raft node {NodeId}: leadership transfer did not finish within {TimeoutMs} ms (ShutdownTransferTimeout); stopping anyway")]
    public static partial void TransferOnShutdownTimedOut(this ILogger logger, string nodeId, double timeoutMs);

    [LoggerMessage(EventId = 2109, Level = LogLevel.Critical, Message = "Raft node {NodeId} stopped after a fatal error (storage or state machine): {Reason}. Stored data is kept; fix the cause and restart.")]
    public static partial void HostFatal(this ILogger logger, Exception exception, string nodeId, string reason);

    [LoggerMessage(EventId = 2110, Level = LogLevel.Error, Message = "Raft node {NodeId}: the state machine failed to apply entry {Index}")]
    public static partial void ApplyFailed(this ILogger logger, Exception exception, string nodeId, long index);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Information, Message = "Raft node {NodeId}: address of {PeerId} is now '{Address}'")]
    public static partial void AddressBookUpdated(this ILogger logger, string nodeId, string peerId, string address);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Error, Message = "Raft node {NodeId}: log entry {Index} has unknown tag {Tag}; skipped (is a newer pgraft version writing to this cluster?)")]
    public static partial void UnknownEntryTag(this ILogger logger, string nodeId, long index, byte tag);

    [LoggerMessage(EventId = 2113, Level = LogLevel.Information, Message = "Raft node {NodeId}: membership change at index {Index} applied; membership is now {Membership}")]
    public static partial void MembershipChangeApplied(this ILogger logger, string nodeId, long index, string membership);

    [LoggerMessage(EventId = 2114, Level = LogLevel.Warning, Message = "Raft node {NodeId}: a SoftStateChanged handler threw")]
    public static partial void ObserverFailed(this ILogger logger, Exception exception, string nodeId);

    [LoggerMessage(EventId = 2115, Level = LogLevel.Warning, Message = "Raft node {NodeId}: address '{Address}' of {PeerId} in the address book is invalid; not dialling it")]
    public static partial void BadPeerAddress(this ILogger logger, string nodeId, string peerId, string address);
}

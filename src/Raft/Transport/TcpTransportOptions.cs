using System.Net;

namespace PgRaft.Raft.Transport;

/// <summary>Settings of <see cref="TcpRaftTransport"/>.</summary>
public sealed class TcpTransportOptions
{
    /// <summary>This node's Raft id; sent in the handshake and checked against <see cref="Core.RaftMessage.From"/>.</summary>
    public string NodeId { get; set; } = "";

    /// <summary>Address to listen on (e.g. 0.0.0.0:7432). What peers dial is the advertised address, kept by the host's address book.</summary>
    public IPEndPoint BindEndPoint { get; set; } = new(IPAddress.Any, 7432);

    /// <summary>Shared cluster secret (at least 16 bytes) used for HMAC-SHA256 challenge-response in both directions.</summary>
    public byte[] ClusterSecret { get; set; } = [];

    /// <summary>Largest frame accepted or sent; a bigger one drops the connection (incoming) or the message (outgoing).</summary>
    public int MaxFrameBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Messages queued per peer before new ones are dropped (Raft retries).</summary>
    public int SendQueueCapacity { get; set; } = 4096;

    /// <summary>Received messages buffered for the host before new ones are dropped.</summary>
    public int IncomingQueueCapacity { get; set; } = 8192;

    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Time allowed for TCP connect, TLS and HMAC handshake together on an accepted connection.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A connection whose sent data stays unacknowledged this long (TCP_USER_TIMEOUT), or that stays silent to
    /// keepalive probes about as long, is closed and dialled again. Without it a connection stalled by a partition keeps
    /// retransmitting with exponential back-off, and after the partition heals the peer could hear nothing for most of
    /// a minute (measured: 47-50 s in the Jepsen-style partition test).
    /// </summary>
    public TimeSpan DeadConnectionTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Optional TLS: a PKCS#12 (.pfx/.p12) file, or a PEM certificate (with <see cref="TlsKeyPath"/>). Null: plain TCP.</summary>
    public string? TlsCertificatePath { get; set; }

    /// <summary>PEM private key for <see cref="TlsCertificatePath"/> when it is a PEM certificate.</summary>
    public string? TlsKeyPath { get; set; }

    /// <summary>Password of a PKCS#12 <see cref="TlsCertificatePath"/>, if any.</summary>
    public string? TlsCertificatePassword { get; set; }

    public bool TlsEnabled => TlsCertificatePath is not null;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(NodeId))
        {
            throw new ArgumentException("TcpTransportOptions.NodeId must be set to this node's Raft id.", nameof(NodeId));
        }

        if (BindEndPoint is null)
        {
            throw new ArgumentException("TcpTransportOptions.BindEndPoint must be set (e.g. 0.0.0.0:7432).", nameof(BindEndPoint));
        }

        if (ClusterSecret is null || ClusterSecret.Length < 16)
        {
            throw new ArgumentException($"TcpTransportOptions.ClusterSecret must be at least 16 bytes long (it is {ClusterSecret?.Length ?? 0}); use the same random secret on every node.", nameof(ClusterSecret));
        }

        if (MaxFrameBytes < 4096)
        {
            throw new ArgumentException($"TcpTransportOptions.MaxFrameBytes must be at least 4096 (it is {MaxFrameBytes}).", nameof(MaxFrameBytes));
        }

        if (SendQueueCapacity < 1)
        {
            throw new ArgumentException($"TcpTransportOptions.SendQueueCapacity must be positive (it is {SendQueueCapacity}).", nameof(SendQueueCapacity));
        }

        if (IncomingQueueCapacity < 1)
        {
            throw new ArgumentException($"TcpTransportOptions.IncomingQueueCapacity must be positive (it is {IncomingQueueCapacity}).", nameof(IncomingQueueCapacity));
        }

        if (ReconnectMinDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectMinDelay)
        {
            throw new ArgumentException($"TcpTransportOptions.ReconnectMinDelay must be positive and not above ReconnectMaxDelay (they are {ReconnectMinDelay} and {ReconnectMaxDelay}).", nameof(ReconnectMinDelay));
        }

        if (DeadConnectionTimeout < TimeSpan.FromMilliseconds(500))
        {
            throw new ArgumentException($"TcpTransportOptions.DeadConnectionTimeout must be at least 500 ms (it is {DeadConnectionTimeout}).", nameof(DeadConnectionTimeout));
        }

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"TcpTransportOptions.ConnectTimeout must be positive (it is {ConnectTimeout}).", nameof(ConnectTimeout));
        }

        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"TcpTransportOptions.HandshakeTimeout must be positive (it is {HandshakeTimeout}).", nameof(HandshakeTimeout));
        }

        if (TlsCertificatePath is not null && !File.Exists(TlsCertificatePath))
        {
            throw new ArgumentException($"TcpTransportOptions.TlsCertificatePath '{TlsCertificatePath}' does not exist.", nameof(TlsCertificatePath));
        }

        if (TlsKeyPath is not null && TlsCertificatePath is null)
        {
            throw new ArgumentException("TcpTransportOptions.TlsKeyPath is set but TlsCertificatePath is not.", nameof(TlsKeyPath));
        }

        if (TlsKeyPath is not null && !File.Exists(TlsKeyPath))
        {
            throw new ArgumentException($"TcpTransportOptions.TlsKeyPath '{TlsKeyPath}' does not exist.", nameof(TlsKeyPath));
        }
    }
}

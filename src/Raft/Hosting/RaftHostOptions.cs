using System.Net;
using PgRaft.Raft.Transport;

namespace PgRaft.Raft.Hosting;

/// <summary>Settings of <see cref="RaftHost"/>. <see cref="Validate"/> names the first bad setting.</summary>
public sealed class RaftHostOptions
{
    /// <summary>This node's Raft id (letters, digits, '-', '_', '.'; at most 64 characters).</summary>
    public string NodeId { get; set; } = "";

    /// <summary>Directory for the Raft log and snapshots (created if missing).</summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>Address to listen on for peers.</summary>
    public IPEndPoint BindEndPoint { get; set; } = new(IPAddress.Any, 7432);

    /// <summary>Address the other nodes dial to reach this one ("host:port"); defaults to the bind address when that is not a wildcard.</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>
    /// Members of a new cluster, id to "host:port". On a fresh data directory: when this node is in the list, it
    /// bootstraps the cluster with these voters; otherwise it waits to be added (AddLearnerAsync on the leader) and
    /// uses the list only to find the existing nodes until the replicated address book reaches it.
    /// Ignored for membership once the data directory holds state.
    /// </summary>
    public IReadOnlyDictionary<string, string> InitialMembers { get; set; } = new Dictionary<string, string>();

    /// <summary>Shared cluster secret, at least 16 bytes, the same on every node.</summary>
    public byte[] ClusterSecret { get; set; } = [];

    public TimeSpan TickInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Election timeout in ticks (randomised in [n, 2n)).</summary>
    public int ElectionTicks { get; set; } = 20;

    public int HeartbeatTicks { get; set; } = 2;

    public bool PreVote { get; set; } = true;

    public bool CheckQuorum { get; set; } = true;

    /// <summary>Take a snapshot and compact the log once this many entries were applied since the last snapshot.</summary>
    public long SnapshotThreshold { get; set; } = 10_000;

    /// <summary>How long <see cref="RaftHost.StopAsync"/> waits for a leadership transfer before stopping anyway.</summary>
    public TimeSpan ShutdownTransferTimeout { get; set; } = TimeSpan.FromSeconds(3);

    public int MaxFrameBytes { get; set; } = 64 * 1024 * 1024;

    public string? TlsCertificatePath { get; set; }

    public string? TlsKeyPath { get; set; }

    public string? TlsCertificatePassword { get; set; }

    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The address peers use for this node.</summary>
    public string EffectiveAdvertisedAddress =>
        AdvertisedAddress ?? (InitialMembers.TryGetValue(NodeId, out var listed) ? listed : BindEndPoint.ToString());

    public void Validate()
    {
        ValidateNodeId(NodeId, nameof(NodeId));
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ArgumentException("RaftHostOptions.DataDirectory must be set to a directory for the Raft log.", nameof(DataDirectory));
        }

        if (BindEndPoint is null)
        {
            throw new ArgumentException("RaftHostOptions.BindEndPoint must be set (e.g. 0.0.0.0:7432).", nameof(BindEndPoint));
        }

        if (AdvertisedAddress is not null)
        {
            _ = EndPointParser.Parse(AdvertisedAddress, "RaftHostOptions.AdvertisedAddress");
        }
        else if (!InitialMembers.ContainsKey(NodeId) && (BindEndPoint.Address.Equals(IPAddress.Any) || BindEndPoint.Address.Equals(IPAddress.IPv6Any)))
        {
            throw new ArgumentException($"RaftHostOptions.AdvertisedAddress must be set: the bind address {BindEndPoint} is a wildcard that peers cannot dial.", nameof(AdvertisedAddress));
        }

        foreach (var (id, address) in InitialMembers)
        {
            ValidateNodeId(id, "InitialMembers");
            _ = EndPointParser.Parse(address, $"RaftHostOptions.InitialMembers[{id}]");
        }

        if (ClusterSecret is null || ClusterSecret.Length < 16)
        {
            throw new ArgumentException($"RaftHostOptions.ClusterSecret must be at least 16 bytes long (it is {ClusterSecret?.Length ?? 0}); use the same random secret on every node.", nameof(ClusterSecret));
        }

        if (TickInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"RaftHostOptions.TickInterval must be positive (it is {TickInterval}).", nameof(TickInterval));
        }

        if (ElectionTicks < 2)
        {
            throw new ArgumentException($"RaftHostOptions.ElectionTicks must be at least 2 (it is {ElectionTicks}).", nameof(ElectionTicks));
        }

        if (HeartbeatTicks < 1 || HeartbeatTicks >= ElectionTicks)
        {
            throw new ArgumentException($"RaftHostOptions.HeartbeatTicks must be at least 1 and below ElectionTicks ({ElectionTicks}) (it is {HeartbeatTicks}).", nameof(HeartbeatTicks));
        }

        if (SnapshotThreshold < 1)
        {
            throw new ArgumentException($"RaftHostOptions.SnapshotThreshold must be positive (it is {SnapshotThreshold}).", nameof(SnapshotThreshold));
        }

        if (ShutdownTransferTimeout < TimeSpan.Zero)
        {
            throw new ArgumentException($"RaftHostOptions.ShutdownTransferTimeout must not be negative (it is {ShutdownTransferTimeout}).", nameof(ShutdownTransferTimeout));
        }

        TransportOptions().Validate();
    }

    internal static void ValidateNodeId(string id, string setting)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 64 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new ArgumentException($"RaftHostOptions.{setting}: node id '{id}' is invalid; use 1-64 characters of letters, digits, '-', '_' or '.'.", setting);
        }
    }

    internal TcpTransportOptions TransportOptions() => new()
    {
        NodeId = NodeId,
        BindEndPoint = BindEndPoint,
        ClusterSecret = ClusterSecret,
        MaxFrameBytes = MaxFrameBytes,
        TlsCertificatePath = TlsCertificatePath,
        TlsKeyPath = TlsKeyPath,
        TlsCertificatePassword = TlsCertificatePassword,
        ReconnectMaxDelay = ReconnectMaxDelay,
        ReconnectMinDelay = TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(50).Ticks, ReconnectMaxDelay.Ticks)),
    };
}

namespace PgRaft.Proxy.Routing;

/// <summary>A standby the read-only port may send clients to.</summary>
/// <param name="Name">Member name, for logs.</param>
/// <param name="Endpoint">Where its PostgreSQL listens.</param>
/// <param name="Healthy">False when the member is down or not streaming.</param>
/// <param name="LagBytes">Replication lag behind the primary, in bytes of WAL.</param>
/// <param name="NoLoadBalance">The member's "noloadbalance" tag: never a read-only target.</param>
internal sealed record StandbyCandidate(string Name, ProxyEndpoint Endpoint, bool Healthy, long LagBytes, bool NoLoadBalance);

/// <summary>
/// Everything the proxy needs to route: what the routing source (the node's applied view)
/// says right now. Immutable; a new snapshot with a higher <see cref="Version"/> replaces it.
/// </summary>
/// <param name="Primary">The read-write target, or null while there is none (new connections are held).</param>
/// <param name="InContactWithMajority">Whether this node is in contact with a Raft majority; without it the read-write port routes nowhere.</param>
/// <param name="Standbys">Read-only candidates.</param>
/// <param name="FallbackToPrimary">Whether the read-only port may use the primary when no standby qualifies.</param>
internal sealed record ProxyRoutingSnapshot(
    ProxyEndpoint? Primary,
    bool InContactWithMajority,
    IReadOnlyList<StandbyCandidate> Standbys,
    bool FallbackToPrimary)
{
    /// <summary>Nothing known yet: no primary, no standbys, no majority.</summary>
    public static ProxyRoutingSnapshot Nothing { get; } = new(null, false, [], false);

    /// <summary>Increases with every change; set by the publisher.</summary>
    public long Version { get; init; }

    /// <summary>How long a new client waits for a target; null: the listener's configured <c>HoldTimeout</c>.</summary>
    public TimeSpan? HoldTimeout { get; init; }

    /// <summary>The most a standby may lag to take read-only clients; null: the listener's configured <c>MaxReplicaLagBytes</c>.</summary>
    public long? MaxReplicaLagBytes { get; init; }

    /// <summary>The read-write target, if the node may route writes now.</summary>
    public ProxyEndpoint? ReadWriteTarget => InContactWithMajority ? Primary : null;
}

using PgRaft.Proxy.Routing;

namespace PgRaft.Proxy.Listening;

/// <summary>The routing rules, as pure functions of a snapshot.</summary>
internal static class TargetSelection
{
    /// <summary>A standby that may receive new read-only connections.</summary>
    public static bool IsEligibleStandby(StandbyCandidate candidate, long maxReplicaLagBytes) =>
        candidate.Healthy && !candidate.NoLoadBalance && candidate.LagBytes >= 0 && candidate.LagBytes <= maxReplicaLagBytes;

    /// <summary>
    /// The target for a new connection, or null to hold it. Read-only: the eligible standby with the
    /// fewest connections (ties broken by <paramref name="rotation"/>), else the primary when fallback is allowed.
    /// </summary>
    public static ProxyRoute? Choose(
        ProxyRole role,
        ProxyRoutingSnapshot snapshot,
        long maxReplicaLagBytes,
        Func<ProxyEndpoint, int> connectionsTo,
        int rotation)
    {
        if (role == ProxyRole.ReadWrite)
        {
            return snapshot.ReadWriteTarget is { } primary ? new ProxyRoute(primary, false) : null;
        }

        var standbys = snapshot.Standbys;
        var count = standbys.Count;
        StandbyCandidate? best = null;
        var bestConnections = int.MaxValue;
        for (var i = 0; i < count; i++)
        {
            var candidate = standbys[(int)((uint)(rotation + i) % (uint)count)];
            if (!IsEligibleStandby(candidate, maxReplicaLagBytes))
            {
                continue;
            }

            var connections = connectionsTo(candidate.Endpoint);
            if (connections < bestConnections)
            {
                best = candidate;
                bestConnections = connections;
            }
        }

        if (best is not null)
        {
            return new ProxyRoute(best.Endpoint, false);
        }

        return snapshot.FallbackToPrimary && snapshot.ReadWriteTarget is { } fallback ? new ProxyRoute(fallback, true) : null;
    }

    /// <summary>
    /// Whether an open connection may stay where it is. Read-write connections stay only on the
    /// current primary with a majority in contact; read-only ones stay on a standby while it is
    /// listed and healthy (growing lag only stops new connections), and on the fallback primary
    /// while it is still the primary and fallback is still allowed.
    /// </summary>
    public static bool MayStay(ProxyRole role, ProxyRoutingSnapshot snapshot, ProxyRoute route)
    {
        if (role == ProxyRole.ReadWrite || route.ViaFallback)
        {
            return snapshot.ReadWriteTarget == route.Target && (role == ProxyRole.ReadWrite || snapshot.FallbackToPrimary);
        }

        foreach (var standby in snapshot.Standbys)
        {
            if (standby.Endpoint == route.Target)
            {
                return standby.Healthy;
            }
        }

        return false;
    }
}

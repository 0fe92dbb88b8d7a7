using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;
using PgRaft.Proxy.Routing;

namespace PgRaft.Node.Hosting;

/// <summary>Turns the applied cluster state, Raft contact and the leader's health table into the proxy's routing.</summary>
internal static class ProxyRouting
{
    public static ProxyRoutingSnapshot Compute(ClusterState state, bool inContactWithMajority, IReadOnlyList<NodeHealth>? health)
    {
        var view = state.View;
        ProxyEndpoint? primary = null;
        if (view.Primary is { } primaryId && state.Members.TryGetValue(primaryId, out var primaryMember))
        {
            var primaryHealth = health?.FirstOrDefault(h => h.NodeId == primaryId);
            // Without news from the leader, trust the view; a primary the leader sees down means "hold" (a failover is coming).
            if (primaryHealth is null || (primaryHealth.Running && primaryHealth.Role == PgRole.Primary))
            {
                primary = ProxyEndpoint.Parse(primaryMember.PostgresAddress);
            }
        }

        var standbys = new List<StandbyCandidate>();
        foreach (var member in state.Members.Values)
        {
            if (member.NodeId == view.Primary)
            {
                continue;
            }

            var memberHealth = health?.FirstOrDefault(h => h.NodeId == member.NodeId);
            var healthy = memberHealth is { Running: true, Healthy: true, Role: PgRole.Standby };
            standbys.Add(new StandbyCandidate(member.NodeId, ProxyEndpoint.Parse(member.PostgresAddress), healthy, memberHealth?.LagBytes ?? long.MaxValue, member.Tags.NoLoadBalance));
        }

        return new ProxyRoutingSnapshot(primary, inContactWithMajority, standbys, state.Spec.ReadOnlyFallbackToPrimary)
        {
            HoldTimeout = state.Spec.ProxyHoldTimeout,
            MaxReplicaLagBytes = state.Spec.MaxReplicaLag,
        };
    }

    /// <summary>Why the read-write port routes where it does, for the log.</summary>
    public static string Describe(ProxyRoutingSnapshot routing, string? viewPrimary) =>
        !routing.InContactWithMajority ? "no contact with a Raft majority"
        : routing.Primary is null ? viewPrimary is null ? "the view names no primary" : $"waiting for {viewPrimary} to run as primary"
        : $"primary {viewPrimary}";

    public static bool SameRouting(ProxyRoutingSnapshot a, ProxyRoutingSnapshot b) =>
        a.Primary == b.Primary && a.InContactWithMajority == b.InContactWithMajority
        && a.FallbackToPrimary == b.FallbackToPrimary && a.Standbys.SequenceEqual(b.Standbys)
        && a.HoldTimeout == b.HoldTimeout && a.MaxReplicaLagBytes == b.MaxReplicaLagBytes;
}

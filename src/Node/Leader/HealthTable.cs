using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Leader;

/// <summary>What the leader tells every keeper about every node (the proxies route by it), from its report table.</summary>
internal static class HealthTable
{
    public static IReadOnlyList<NodeHealth> From(ReportTable reports, ClusterState state, TimeSpan now)
    {
        var failTimeout = state.Spec.FailTimeout;
        var primaryPosition = state.View.Primary is { } primary ? reports.Latest(primary)?.Position : null;
        return reports.Nodes.Values
            .Select(r => r.Latest)
            .Select(r => new NodeHealth(
                r.NodeId,
                r.PostgresRunning && IsCurrent(r, now, failTimeout),
                r.Role,
                r.Healthy,
                primaryPosition is { } p && r.Position is { } position ? (long)p.BytesSince(position) : (r.Role == PgRole.Primary ? 0 : long.MaxValue),
                r.Position,
                (now - r.ReceivedAt).TotalSeconds,
                r.PendingRestart,
                r.OperationInProgress))
            .ToList();
    }

    /// <summary>
    /// A new leader cannot date a keeper's first report to it (the report echoes the old leader's clock). That report
    /// is still the newest news of the node, so it counts by its arrival until a dated one replaces it, instead of
    /// making a healthy primary look silent, which would make every proxy cut its clients after each leader change.
    /// </summary>
    private static bool IsCurrent(KeeperReport report, TimeSpan now, TimeSpan failTimeout) =>
        report.ObservedAt is null ? now - report.ReceivedAt < failTimeout : report.IsFresh(now, failTimeout);
}

using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Keeper;

/// <summary>
/// Measures, on the keeper's own clock, how long this standby has followed the view's primary without its WAL receiver
/// streaming while that primary was available: the leader's latest answer showed it running and healthy (a running
/// primary holds its lease: its guard stops it otherwise) and this node reached its PostgreSQL port. Anything else
/// (streaming, a restart of either side, another upstream, no fresh answer from the leader, a network cut between the
/// two) starts the count again, so ordinary catch-up, restarts and partitions never add up to a stall.
/// </summary>
internal sealed class StreamingWatch
{
    private TimeSpan? _since;

    /// <summary>True when <paramref name="nodes"/> (the leader's last answer) shows <paramref name="primary"/> running and healthy as primary.</summary>
    public static bool PrimaryHealthy(IReadOnlyList<NodeHealth>? nodes, string? primary) =>
        primary is not null && nodes is not null
        && nodes.Any(n => n.NodeId == primary && n is { Running: true, Healthy: true, Role: PgRole.Primary });

    /// <summary>Takes one observation at <paramref name="now"/>; returns how long the stall has lasted (zero when there is none).</summary>
    public TimeSpan Observe(string nodeId, ClusterState state, LocalPostgres local, bool primaryAvailable, TimeSpan now)
    {
        if (!primaryAvailable || !KeeperPlanner.FollowsPrimaryWithoutStreaming(nodeId, state, local))
        {
            _since = null;
            return TimeSpan.Zero;
        }

        _since ??= now;
        return now - _since.Value;
    }

    /// <summary>Forgets the count (the standby was stopped, rewound or re-pointed by an action).</summary>
    public void Reset() => _since = null;
}

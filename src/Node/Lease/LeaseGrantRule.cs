using PgRaft.Node.Cluster;

namespace PgRaft.Node.Lease;

/// <summary>A keeper's request to renew its primary lease.</summary>
internal sealed record LeaseRequest(string NodeId, long Generation);

internal sealed record LeaseGrantDecision(bool Granted, string Reason);

/// <summary>DESIGN §7 rule 2: the leader grants only while it is still leader and the committed view names the requester.</summary>
internal static class LeaseGrantRule
{
    /// <param name="request">What the keeper asked for.</param>
    /// <param name="stillLeaderAfterQuorumRound">True when a quorum round (as for ReadIndex) started after the request confirmed this node still leads.</param>
    /// <param name="committed">The cluster state as of the read index of that round.</param>
    /// <param name="failoverDue">
    /// The sentinel's verdict (<c>SentinelRules.FailoverDue</c>): when the requester counts as failed and another node
    /// could take over, no more grants, so that its lease runs out and the failover proceeds even while its keeper keeps
    /// asking (a crashed PostgreSQL under a live keeper). Null otherwise, so a primary nobody could replace keeps its
    /// lease and may recover in place.
    /// </param>
    public static LeaseGrantDecision Decide(LeaseRequest request, bool stillLeaderAfterQuorumRound, ClusterState committed, string? failoverDue = null)
    {
        if (!stillLeaderAfterQuorumRound)
        {
            return new(false, "this node could not confirm it is still the Raft leader");
        }

        var view = committed.View;
        // The named target of a pending switchover may hold a lease before the view names it: it cannot write with
        // it (only a primary in the view promotes), and the promotion then starts without a lease round trip.
        var switchoverTarget = view.Primary != request.NodeId && committed.Switchover is { To: { } to } && to == request.NodeId;
        if (view.Primary != request.NodeId && !switchoverTarget)
        {
            return new(false, $"the view names {view.Primary ?? "no primary"}, not {request.NodeId}, as primary");
        }

        // A request made at an older generation that still names the requester primary (a sync-set change since) is
        // granted: the lease table is per node, so the grant is accounted for whatever generation the keeper saw.
        if (request.Generation > view.Generation)
        {
            return new(false, $"the view is at generation {view.Generation}, behind the request's {request.Generation}; retry once this leader has applied it");
        }

        if (committed.Switchover is { } switchover && switchover.From == request.NodeId)
        {
            return new(false, $"{request.NodeId} is handing over in a switchover ({switchover.Phase})");
        }

        if (committed.Failover is { } failover && failover.From == request.NodeId)
        {
            return new(false, $"an operator asked for a failover from {request.NodeId} to {failover.To ?? "the best standby"}");
        }

        if (failoverDue is not null)
        {
            return new(false, $"a failover is due: {failoverDue}");
        }

        return switchoverTarget
            ? new(true, $"{request.NodeId} is the target of the pending switchover from {view.Primary}")
            : new(true, $"{request.NodeId} is primary at generation {view.Generation}");
    }

    /// <summary>Applies a decision to the leader's table: a grant is recorded at <paramref name="now"/>, the time the grant was decided.</summary>
    public static LeaseTable Record(LeaseTable table, LeaseRequest request, LeaseGrantDecision decision, TimeSpan now) =>
        decision.Granted ? table.WithGrant(request.NodeId, now) : table;
}

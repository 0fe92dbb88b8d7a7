using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Api;

/// <summary>What the HTTP API asks of the running node. Leader-only calls throw <see cref="PgRaft.Raft.Hosting.NotLeaderException"/> elsewhere.</summary>
internal interface IControlPlane
{
    Task<ReportAck> AcceptReportAsync(KeeperReport report, CancellationToken cancellationToken);

    Task<LeaseResponse> GrantLeaseAsync(LeaseRequest request, CancellationToken cancellationToken);

    Task<CommandResult> ProposeAsync(ClusterCommand command, CancellationToken cancellationToken);

    Task<MembershipResult> ChangeMembershipAsync(MembershipChange change, CancellationToken cancellationToken);

    LocalHealth Health { get; }

    ClusterState ClusterState { get; }

    ClusterNodes Nodes { get; }

    NodeMetrics Metrics { get; }
}

using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Api;

/// <summary>What the HTTP API asks of the running node. Leader-only calls throw <see cref="NotLeaderException"/> elsewhere.</summary>
internal interface IControlPlane
{
    Task<ReportAck> AcceptReportAsync(KeeperReport report, CancellationToken cancellationToken);

    Task<LeaseResponse> GrantLeaseAsync(LeaseRequest request, CancellationToken cancellationToken);

    Task<CommandResult> ProposeAsync(ClusterCommand command, CancellationToken cancellationToken);

    LocalHealth Health { get; }

    ClusterState ClusterState { get; }
}

/// <summary>This node does not lead Raft; <see cref="Leader"/> names the one it believes does.</summary>
internal sealed class NotLeaderException(string? leader)
    : Exception(leader is null ? "no Raft leader is known right now; retry shortly" : $"this node is not the Raft leader; {leader} is")
{
    public string? Leader { get; } = leader;
}

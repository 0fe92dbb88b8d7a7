using PgRaft.JepsenStyle.Harness;

namespace PgRaft.JepsenStyle.Faults;

/// <summary>Who is what in a healthy cluster, just before a fault.</summary>
internal sealed record Roles(int Primary, IReadOnlyList<int> Standbys, int? RaftLeader)
{
    public static async Task<Roles> ReadAsync(LabCluster cluster, int primary, CancellationToken cancellationToken)
    {
        var leader = await cluster.Api.RaftLeaderAsync(primary, cancellationToken);
        return new Roles(primary, cluster.NodeNumbers.Where(n => n != primary).ToList(), leader is null ? null : LabCluster.NodeNumber(leader));
    }

    public int Resolve(FaultPlan plan) => plan.Role switch
    {
        TargetRole.Primary => Primary,
        TargetRole.Standby => Standbys[plan.Pick % Standbys.Count],
        TargetRole.RaftLeader => RaftLeader ?? Standbys[plan.Pick % Standbys.Count],
        _ => throw new ArgumentOutOfRangeException(nameof(plan), plan.Role, "unknown role"),
    };

    public string Describe(int node)
    {
        var role = node == Primary ? "primary" : "standby";
        return node == RaftLeader ? $"node{node} ({role}, Raft leader)" : $"node{node} ({role})";
    }
}

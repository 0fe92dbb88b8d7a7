using PgRaft.Node.Cluster;

namespace PgRaft.Node.Sentinel;

/// <summary>The sentinel's part in an operator's restart or reinit: record how it ended, or give it up for a silent node.</summary>
internal static class NodeOperations
{
    /// <summary>An operation for a node that has not reported for this long (wall clock, from the request) is given up.</summary>
    public static readonly TimeSpan SilentNodeGiveUp = TimeSpan.FromSeconds(30);

    /// <summary>True while <paramref name="report"/> says its keeper is restarting PostgreSQL for the node's pending restart.</summary>
    public static bool IsRestarting(ClusterState state, KeeperReport report) =>
        report.OperationInProgress is { } id
        && state.PendingOperations.TryGetValue(report.NodeId, out var operation)
        && operation is { Kind: NodeOperationKind.Restart } && operation.Id == id;

    /// <summary>The one command that records an ended operation, or null when none ended.</summary>
    public static SentinelDecision? Step(SentinelInput input)
    {
        foreach (var (nodeId, operation) in input.State.PendingOperations)
        {
            var latest = input.Reports.Latest(nodeId);
            if (latest?.CompletedOperation is { } done && done.Id == operation.Id)
            {
                return SentinelDecision.Propose(
                    new CompleteNodeOperation(nodeId, done.Id, done.Succeeded, done.Message),
                    $"{operation.Kind.ToString().ToLowerInvariant()} of {nodeId} {(done.Succeeded ? "done" : "failed")}: {done.Message}",
                    SentinelStatus.Converging);
            }

            var waited = input.WallClock - operation.RequestedAt;
            if ((latest is null || !input.IsFresh(latest)) && waited >= SilentNodeGiveUp && input.Now - input.TermStartedAt >= input.Spec.FailTimeout)
            {
                var why = $"{nodeId} has not reported for {Describe.Seconds(waited)} since the request; ask again once its pgraft runs";
                return SentinelDecision.Propose(new CompleteNodeOperation(nodeId, operation.Id, false, why), $"giving up operation {operation.Id}: {why}", SentinelStatus.Converging);
            }
        }

        return null;
    }
}

using System.Globalization;
using System.Text;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Cli;

/// <summary>The text of <c>pgraft list</c> and <c>pgraft history</c>: one line a member, one line a change of primary.</summary>
internal static class ClusterListing
{
    public static string Members(ClusterState state, ClusterNodes nodes)
    {
        var view = state.View;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"generation {view.Generation}, primary {view.Primary ?? "none"}, replication {state.Spec.Mode.ToString().ToLowerInvariant()}");
        text.Append(CultureInfo.InvariantCulture, $" (sync set {view.Sync}), Raft leader {nodes.RaftLeader ?? "none"}");
        if (nodes.RaftLearners is { Count: > 0 } learners)
        {
            text.Append(CultureInfo.InvariantCulture, $", catching up to vote: {string.Join(", ", learners)}");
        }

        if (nodes.RaftVoters?.Where(v => !state.Members.ContainsKey(v)).ToList() is { Count: > 0 } unregistered)
        {
            text.Append(CultureInfo.InvariantCulture, $", in Raft but not registered yet: {string.Join(", ", unregistered)}");
        }
        if (state.Spec.Paused)
        {
            text.Append(" — PAUSED: no automatic failover");
        }

        if (state.Switchover is { } switchover)
        {
            text.Append(CultureInfo.InvariantCulture, $" — switchover from {switchover.From} to {switchover.To ?? "the best standby"} in progress ({switchover.Phase})");
        }

        if (state.Failover is { } failover)
        {
            text.Append(CultureInfo.InvariantCulture, $" — failover from {failover.From} to {failover.To ?? "the best standby"} requested");
        }

        text.AppendLine();
        var rows = new List<string[]> { new[] { "Member", "PostgreSQL", "Role", "State", "WAL position", "Lag", "Tags", "Pending" } };
        foreach (var member in state.Members.Values)
        {
            var health = nodes.Nodes.FirstOrDefault(n => n.NodeId == member.NodeId);
            rows.Add(
            [
                member.NodeId,
                member.PostgresAddress,
                Role(member.NodeId, view),
                health is null ? "unknown" : !health.Running ? "stopped" : health.Healthy ? "running" : "unhealthy",
                health?.Position?.ToString() ?? "",
                member.NodeId == view.Primary || health is null || !health.Running ? "" : Bytes(health.LagBytes),
                Tags(member.Tags),
                Pending(state, member.NodeId, health),
            ]);
        }

        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
        {
            text.AppendLine(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        }

        if (nodes.Sentinel is { } sentinel)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"sentinel ({sentinel.Leader}): {sentinel.Status}: {sentinel.Reason}");
        }

        if (state.LastNotice is { } notice)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"last operator request: {notice.Message}");
        }

        return text.ToString();
    }

    /// <summary>What waits on a member: the operator's restart or reinit (and whether it runs now), parameters waiting for a restart.</summary>
    private static string Pending(ClusterState state, string nodeId, NodeHealth? health)
    {
        var parts = new List<string>();
        if (state.PendingOperations.TryGetValue(nodeId, out var operation))
        {
            var running = health?.OperationInProgress == operation.Id ? ", running" : "";
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{operation.Kind.ToString().ToLowerInvariant()} (operation {operation.Id}{running})"));
        }

        if (health?.PendingRestart is { } parameters)
        {
            parts.Add($"restart for {parameters}");
        }

        return string.Join("; ", parts);
    }

    public static string History(ClusterState state)
    {
        if (state.History.Count == 0)
        {
            return "no change of primary recorded yet\n";
        }

        var text = new StringBuilder();
        foreach (var entry in state.History)
        {
            var from = entry.OldPrimary is null ? "" : $"{entry.OldPrimary} -> ";
            var branch = entry.Branch is { } b ? $", runs {b}" : "";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{entry.When.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z  generation {entry.Generation,-4} {entry.Reason.Text(),-15} {from}{entry.NewPrimary} (left timeline {entry.Timeline} at {entry.Lsn}{branch})");
        }

        return text.ToString();
    }

    private static string Role(string nodeId, ClusterView view) =>
        nodeId == view.Primary ? "primary"
        : view.Sync.Standbys.Contains(nodeId) ? "sync standby"
        : view.UpstreamOf(nodeId) is { } upstream && upstream != view.Primary ? $"standby of {upstream}"
        : "standby";

    private static string Tags(MemberTags tags)
    {
        var names = new List<string>();
        if (tags.NoFailover)
        {
            names.Add("nofailover");
        }

        if (tags.NoLoadBalance)
        {
            names.Add("noloadbalance");
        }

        if (tags.NoSync)
        {
            names.Add("nosync");
        }

        if (tags.Priority != 0)
        {
            names.Add("priority=" + tags.Priority.ToString(CultureInfo.InvariantCulture));
        }

        if (tags.ReplicateFrom is { } from)
        {
            names.Add("replicateFrom=" + from);
        }

        return string.Join(",", names);
    }

    private static string Bytes(long bytes) => bytes switch
    {
        long.MaxValue or < 0 => "unknown",
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} kB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):F1} MB"),
    };
}

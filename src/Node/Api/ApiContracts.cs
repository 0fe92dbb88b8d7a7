using System.Text.Json;
using System.Text.Json.Serialization;
using PgRaft.Node.Cluster;
using PgRaft.Node.Leader;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Api;

/// <summary>How one node looks to the leader, shared with every keeper so each proxy can pick healthy standbys.</summary>
/// <param name="PendingRestart">Parameters changed that its PostgreSQL applies only at the next start (null: none).</param>
/// <param name="OperationInProgress">The operator's restart or reinit its keeper is carrying out, if any.</param>
internal sealed record NodeHealth(
    string NodeId, bool Running, PgRole Role, bool Healthy, long LagBytes, Lsn? Position, double SecondsSinceReport, string? PendingRestart = null, long? OperationInProgress = null);

/// <summary>What the Raft leader's sentinel last decided, in words an operator can act on (why there is no failover, what it waits for).</summary>
internal sealed record SentinelSummary(string Leader, string Status, string Reason);

/// <summary>
/// The leader's answer to a keeper report: every node's health, and a reading of the leader's clock that the keeper's
/// next report echoes so the leader can date what it observed (<see cref="ReportStamp"/>). A null reading (an older
/// leader) leaves the keeper's next report undated.
/// </summary>
internal sealed record ReportAck(string Leader, IReadOnlyList<NodeHealth> Nodes, LeaderClockReading? Clock, SentinelSummary? Sentinel = null);

internal sealed record LeaseResponse(bool Granted, string Reason);

internal sealed record ProposeResponse(CommandOutcome Outcome, string Message, long? OperationId = null);

/// <summary>Returned with 421 when a node-to-node call reached a node that does not lead.</summary>
internal sealed record NotLeaderResponse(string? Leader, string Error);

/// <summary>This node as the health endpoints see it.</summary>
/// <param name="LagBytes">This standby's lag behind the primary, as the Raft leader last reported it (null: unknown, or a primary).</param>
internal sealed record LocalHealth(string NodeId, bool PostgresRunning, PgRole Role, bool HoldsLease, bool IsViewPrimary, long? LagBytes, string State)
{
    /// <summary>PostgreSQL accepts connections (a postmaster still starting up or recovering to consistency does not).</summary>
    public bool Accepting { get; init; }

    /// <summary>A member of the committed synchronous standby set.</summary>
    public bool InSyncSet { get; init; }

    /// <summary>Tagged noloadbalance: never a read-only target, so <c>/replica</c> says no (as Patroni does).</summary>
    public bool NoLoadBalance { get; init; }
}

/// <summary>Every node's health as this node last heard it from the Raft leader (the leader's own table on the leader).</summary>
/// <param name="RaftVoters">The Raft voters this node knows of.</param>
/// <param name="RaftLearners">Raft learners: members still catching up before they vote.</param>
internal sealed record ClusterNodes(
    string? RaftLeader, IReadOnlyList<NodeHealth> Nodes, SentinelSummary? Sentinel = null, IReadOnlyList<string>? RaftVoters = null, IReadOnlyList<string>? RaftLearners = null);

internal enum MembershipAction
{
    Add = 0,
    Remove = 1,
}

/// <summary><c>pgraft member add|remove</c>, sent signed to the Raft leader.</summary>
internal sealed record MembershipChange(MembershipAction Action, string NodeId, string? RaftAddress);

/// <param name="Done">The change happened (or there was nothing to do).</param>
/// <param name="RetryElsewhere">The leader handed leadership over first; the caller should ask the new leader.</param>
internal sealed record MembershipResult(bool Done, string Message, bool RetryElsewhere = false);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, WriteIndented = false)]
[JsonSerializable(typeof(KeeperReport))]
[JsonSerializable(typeof(ReportAck))]
[JsonSerializable(typeof(LeaseRequest))]
[JsonSerializable(typeof(LeaseResponse))]
[JsonSerializable(typeof(ClusterCommand))]
[JsonSerializable(typeof(ProposeResponse))]
[JsonSerializable(typeof(NotLeaderResponse))]
[JsonSerializable(typeof(LocalHealth))]
[JsonSerializable(typeof(ClusterState))]
[JsonSerializable(typeof(ClusterNodes))]
[JsonSerializable(typeof(MembershipChange))]
[JsonSerializable(typeof(MembershipResult))]
[JsonSerializable(typeof(System.Collections.Immutable.ImmutableList<HistoryEntry>))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;

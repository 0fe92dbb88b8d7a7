using System.Collections.Immutable;
using System.Text.Json.Serialization;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Sentinel;

internal enum PgRole
{
    /// <summary>No data directory yet (or it could not be read).</summary>
    Uninitialized = 0,
    Primary = 1,
    Standby = 2,
}

/// <summary>
/// What a keeper reports to the Raft leader a few times a second (DESIGN §5). Soft state: held by the leader, not logged.
/// <see cref="ReceivedAt"/> is the leader's monotonic clock when the report arrived (the keeper sends right after probing).
/// </summary>
internal sealed record KeeperReport
{
    public required string NodeId { get; init; }
    public TimeSpan ReceivedAt { get; init; }
    public bool PostgresRunning { get; init; }
    public PgRole Role { get; init; }
    public ulong? SystemIdentifier { get; init; }
    public int Timeline { get; init; }

    /// <summary>WAL flush position of a primary.</summary>
    public Lsn? FlushLsn { get; init; }

    /// <summary>WAL received (and flushed) by a standby.</summary>
    public Lsn? ReceiveLsn { get; init; }

    /// <summary>WAL replayed by a standby.</summary>
    public Lsn? ReplayLsn { get; init; }

    /// <summary>The node this standby streams from, if it streams.</summary>
    public string? Upstream { get; init; }

    /// <summary>The synchronous_standby_names the keeper wrote (meaningful on a primary).</summary>
    public SyncConfig? AppliedSync { get; init; }

    /// <summary>
    /// The primary's WAL flush position when it wrote <see cref="AppliedSync"/>: commits acknowledged before it were
    /// waited for by the previous set, so the new set counts only once its members have reached it.
    /// </summary>
    public Lsn? AppliedSyncLsn { get; init; }

    /// <summary>The view generation the keeper has reconciled toward.</summary>
    public long AppliedGeneration { get; init; }

    /// <summary>Set by the old primary's keeper once PostgreSQL is stopped for the switchover of this generation.</summary>
    public long? StoppedForSwitchover { get; init; }

    public bool Healthy { get; init; }
    public string? Error { get; init; }

    /// <summary>How far this node's WAL goes: flush on a primary, the larger of receive and replay on a standby.</summary>
    [JsonIgnore]
    public Lsn? Position => Role == PgRole.Primary
        ? FlushLsn
        : ReceiveLsn is { } receive ? Lsn.Max(receive, ReplayLsn ?? Lsn.Zero) : ReplayLsn;

    [JsonIgnore]
    public bool IsHealthyPrimary => Healthy && PostgresRunning && Role == PgRole.Primary;

    [JsonIgnore]
    public bool IsHealthyStandby => Healthy && PostgresRunning && Role == PgRole.Standby;
}

/// <summary>The latest report from one node, and when the node last reported itself healthy.</summary>
internal sealed record NodeReports(KeeperReport Latest, TimeSpan? LastHealthyAt);

/// <summary>The leader's soft state of keeper reports. Cleared when a node becomes leader.</summary>
internal sealed record ReportTable(ImmutableSortedDictionary<string, NodeReports> Nodes)
{
    public static ReportTable Empty { get; } = new(ImmutableSortedDictionary.Create<string, NodeReports>(StringComparer.Ordinal));

    public ReportTable With(KeeperReport report)
    {
        var lastHealthy = Nodes.TryGetValue(report.NodeId, out var previous) ? previous.LastHealthyAt : null;
        if (report.Healthy && report.PostgresRunning)
        {
            lastHealthy = report.ReceivedAt;
        }

        return new ReportTable(Nodes.SetItem(report.NodeId, new NodeReports(report, lastHealthy)));
    }

    public KeeperReport? Latest(string nodeId) => Nodes.TryGetValue(nodeId, out var reports) ? reports.Latest : null;

    public TimeSpan? LastHealthyAt(string nodeId) => Nodes.TryGetValue(nodeId, out var reports) ? reports.LastHealthyAt : null;
}

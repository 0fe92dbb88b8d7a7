using System.Collections.Immutable;
using System.Text.Json.Serialization;
using PgRaft.Node.Cluster;
using PgRaft.Node.Leader;

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
/// The leader stamps it on arrival: <see cref="ReceivedAt"/> (when it arrived, for display) and <see cref="ObservedAt"/>
/// (no later than the keeper's probe, from the echoed leader clock; the only time the sentinel trusts).
/// </summary>
internal sealed record KeeperReport
{
    public required string NodeId { get; init; }

    /// <summary>The leader's monotonic clock when the report arrived. A delayed report arrives late: display only.</summary>
    public TimeSpan ReceivedAt { get; init; }

    /// <summary>
    /// The leader's monotonic clock at or before the moment the keeper probed PostgreSQL for this report
    /// (<see cref="ReportStamp"/>); null when the report echoed no reading of this leader in this term. Reports without
    /// it never count as fresh, as alive or as final positions.
    /// </summary>
    [JsonIgnore]
    public TimeSpan? ObservedAt { get; init; }

    /// <summary>Set by the keeper: the newest leader clock reading it held when it probed.</summary>
    public ClockEcho? ObservedAfter { get; init; }

    public bool PostgresRunning { get; init; }
    public PgRole Role { get; init; }
    public ulong? SystemIdentifier { get; init; }
    public int Timeline { get; init; }

    /// <summary>Where <see cref="Timeline"/> forked from its parent (its history file's last switch point); null on timeline 1 or when unknown.</summary>
    public Lsn? TimelineFork { get; init; }

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

    /// <summary>The operator's operation (<see cref="NodeOperation.Id"/>) the keeper is carrying out right now, if any.</summary>
    public long? OperationInProgress { get; init; }

    /// <summary>The last operation the keeper carried out or gave up, and how it went; reported until the log records it.</summary>
    public CompletedOperation? CompletedOperation { get; init; }

    /// <summary>Parameters changed that PostgreSQL applies only at its next start (empty when none).</summary>
    public string? PendingRestart { get; init; }

    /// <summary>How far this node's WAL goes: flush on a primary, the larger of receive and replay on a standby.</summary>
    [JsonIgnore]
    public Lsn? Position => Role == PgRole.Primary
        ? FlushLsn
        : ReceiveLsn is { } receive ? Lsn.Max(receive, ReplayLsn ?? Lsn.Zero) : ReplayLsn;

    [JsonIgnore]
    public bool IsHealthyPrimary => Healthy && PostgresRunning && Role == PgRole.Primary;

    [JsonIgnore]
    public bool IsHealthyStandby => Healthy && PostgresRunning && Role == PgRole.Standby;

    /// <summary>Observed less than <paramref name="failTimeout"/> before <paramref name="now"/> (leader clock).</summary>
    public bool IsFresh(TimeSpan now, TimeSpan failTimeout) => ObservedAt is { } at && now - at < failTimeout;
}

/// <summary>The latest report from one node, and the stamp (<see cref="KeeperReport.ObservedAt"/>) of its last healthy one.</summary>
internal sealed record NodeReports(KeeperReport Latest, TimeSpan? LastHealthyAt);

/// <summary>The leader's soft state of keeper reports. Cleared when a node becomes leader.</summary>
internal sealed record ReportTable(ImmutableSortedDictionary<string, NodeReports> Nodes)
{
    public static ReportTable Empty { get; } = new(ImmutableSortedDictionary.Create<string, NodeReports>(StringComparer.Ordinal));

    /// <summary>
    /// Takes <paramref name="report"/> as the node's latest unless it was observed before the latest one (a report
    /// overtaken in the network describes an older state), or has no stamp while the latest has one.
    /// </summary>
    public ReportTable With(KeeperReport report)
    {
        var lastHealthy = Nodes.TryGetValue(report.NodeId, out var previous) ? previous.LastHealthyAt : null;
        if (previous?.Latest.ObservedAt is { } latestObserved && (report.ObservedAt is not { } observed || observed < latestObserved))
        {
            return this;
        }

        if (report.Healthy && report.PostgresRunning && report.ObservedAt is { } healthyAt && (lastHealthy is null || healthyAt > lastHealthy))
        {
            lastHealthy = healthyAt;
        }

        return new ReportTable(Nodes.SetItem(report.NodeId, new NodeReports(report, lastHealthy)));
    }

    public KeeperReport? Latest(string nodeId) => Nodes.TryGetValue(nodeId, out var reports) ? reports.Latest : null;

    public TimeSpan? LastHealthyAt(string nodeId) => Nodes.TryGetValue(nodeId, out var reports) ? reports.LastHealthyAt : null;
}

using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;

namespace PgRaft.Node.Sentinel;

/// <summary>
/// Everything the sentinel decides from. Times are the leader's monotonic clock, except <see cref="WallClock"/>,
/// which is only recorded in history entries and used for the (non-safety) switchover timeout.
/// </summary>
internal sealed record SentinelInput(
    ClusterState State,
    ReportTable Reports,
    TimeSpan Now,
    LeaseTable Leases,
    DateTimeOffset WallClock)
{
    public ClusterSpec Spec => State.Spec;

    public TimeSpan TermStartedAt => Leases.TermStartedAt;

    /// <summary>A report is fresh while what it describes was observed less than failTimeout ago (by its stamp, not its arrival).</summary>
    public bool IsFresh(KeeperReport report) => report.IsFresh(Now, Spec.FailTimeout);

    /// <summary>The latest report of a member, only if it is fresh.</summary>
    public KeeperReport? Fresh(string nodeId) => Reports.Latest(nodeId) is { } report && IsFresh(report) ? report : null;
}

internal enum SentinelStatus
{
    Healthy = 0,
    Bootstrapping = 1,
    Converging = 2,
    PrimaryUnhealthy = 3,
    WaitingForLease = 4,
    FailingOver = 5,
    NoCandidate = 6,
    Paused = 7,
    Switchover = 8,
}

/// <summary>At most one command to propose, why, and a status an operator can read (why there is no failover, etc.).</summary>
internal sealed record SentinelDecision(ClusterCommand? Command, string Reason, SentinelStatus Status)
{
    public static SentinelDecision Wait(string reason, SentinelStatus status) => new(null, reason, status);

    public static SentinelDecision Propose(ClusterCommand command, string reason, SentinelStatus status) => new(command, reason, status);

    public override string ToString() => Command is null ? $"{Status}: {Reason}" : $"{Status}: propose {Command.GetType().Name}: {Reason}";
}

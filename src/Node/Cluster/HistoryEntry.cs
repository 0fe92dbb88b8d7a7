namespace PgRaft.Node.Cluster;

internal enum ChangeReason
{
    Bootstrap = 0,
    Failover = 1,
    Switchover = 2,
}

/// <summary>One change of primary. <see cref="When"/> is the deciding leader's wall clock, recorded in the command.</summary>
internal sealed record HistoryEntry(
    long Generation,
    string? OldPrimary,
    string NewPrimary,
    ChangeReason Reason,
    int Timeline,
    Lsn Lsn,
    DateTimeOffset When);

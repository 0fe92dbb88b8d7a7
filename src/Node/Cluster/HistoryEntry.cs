namespace PgRaft.Node.Cluster;

internal enum ChangeReason
{
    Bootstrap = 0,
    Failover = 1,
    Switchover = 2,

    /// <summary>An operator's <c>pgraft failover</c>.</summary>
    ManualFailover = 3,
}

internal static class ChangeReasonText
{
    /// <summary>How an operator reads the reason: "failover", "manual failover", …</summary>
    public static string Text(this ChangeReason reason) => reason switch
    {
        ChangeReason.ManualFailover => "manual failover",
        _ => reason.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// One timeline branch, told apart as PostgreSQL's <c>pg_wal/%08X.history</c> tells it: its number and the position
/// where it forked from its parent. Two servers that both promoted from timeline 1 are both on a timeline 2, but their
/// WAL differs after their own fork points; only the pair says which timeline 2 a server is on.
/// </summary>
internal sealed record TimelineBranch(int Timeline, Lsn ForkLsn)
{
    public override string ToString() => $"timeline {Timeline} forked at {ForkLsn}";
}

/// <summary>
/// One change of primary. <see cref="When"/> is the deciding leader's wall clock, recorded in the command.
/// <see cref="Timeline"/> and <see cref="Lsn"/> say where the old timeline was left (the new primary's position then);
/// <see cref="Branch"/> is the timeline the new primary went on to run, recorded from its first healthy report as
/// primary (<see cref="RecordTimelineBranch"/>); null until then, and for the bootstrap's timeline 1.
/// </summary>
internal sealed record HistoryEntry(
    long Generation,
    string? OldPrimary,
    string NewPrimary,
    ChangeReason Reason,
    int Timeline,
    Lsn Lsn,
    DateTimeOffset When,
    TimelineBranch? Branch = null);

using System.Globalization;

namespace PgRaft.JepsenStyle.Faults;

internal enum FaultKind
{
    /// <summary>The node's cable is pulled: nobody, this test process included, reaches it.</summary>
    IsolateNode,

    /// <summary>The primary and both other nodes cannot reach each other (this test process still reaches all).</summary>
    PartitionPrimary,

    /// <summary>The two standbys cannot reach each other; both still reach the primary.</summary>
    PartitionStandbys,

    /// <summary>Packets one way only: from every other node into the target, or from the target out to them.</summary>
    OneWayDrop,

    /// <summary>kill -9 of the node's pgraft, started again when the fault heals.</summary>
    KillPgraft,

    /// <summary>SIGSTOP of the node's pgraft for longer than the lease, SIGCONT when the fault heals.</summary>
    PausePgraft,

    /// <summary>kill -9 of the node's postmaster only (pgraft and its guard live on).</summary>
    KillPostmaster,
}

/// <summary>Who a fault hits, named by role: the node is looked up when the fault starts.</summary>
internal enum TargetRole
{
    Primary,

    /// <summary>One of the standbys; <see cref="FaultPlan.Pick"/> says which.</summary>
    Standby,

    /// <summary>The node that leads Raft (pgraft hands leadership away from the primary's node, so usually a standby).</summary>
    RaftLeader,
}

/// <summary>One fault of a schedule: what, whom, how long until it is healed.</summary>
internal sealed record FaultPlan(FaultKind Kind, TargetRole Role, TimeSpan Duration, bool IntoTarget = true, int Pick = 0)
{
    public override string ToString()
    {
        var whom = Kind switch
        {
            FaultKind.PartitionPrimary => "primary | standbys",
            FaultKind.PartitionStandbys => "standby | standby",
            FaultKind.OneWayDrop => IntoTarget ? $"others -> {Role}" : $"{Role} -> others",
            FaultKind.KillPostmaster => Role.ToString(),
            _ => Role.ToString(),
        };
        var duration = Kind == FaultKind.KillPostmaster ? "" : string.Create(CultureInfo.InvariantCulture, $" for {Duration.TotalSeconds:F1} s");
        return $"{Kind}({whom}){duration}";
    }
}

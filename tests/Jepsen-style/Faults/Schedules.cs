namespace PgRaft.JepsenStyle.Faults;

/// <summary>The sequences of faults a run goes through.</summary>
internal static class Schedules
{
    /// <summary>The seconds a paused pgraft stays stopped at least: well past its lease (1.5 s by default).</summary>
    private const double MinimumPauseSeconds = 4;

    /// <summary>Every fault kind once, each at the role where it matters most.</summary>
    public static IReadOnlyList<FaultPlan> EveryKindOnce() =>
    [
        new(FaultKind.IsolateNode, TargetRole.RaftLeader, TimeSpan.FromSeconds(6)),
        new(FaultKind.PartitionPrimary, TargetRole.Primary, TimeSpan.FromSeconds(6)),
        new(FaultKind.PartitionStandbys, TargetRole.Standby, TimeSpan.FromSeconds(5)),
        new(FaultKind.OneWayDrop, TargetRole.Primary, TimeSpan.FromSeconds(6), IntoTarget: true),
        new(FaultKind.KillPgraft, TargetRole.Primary, TimeSpan.FromSeconds(4)),
        new(FaultKind.PausePgraft, TargetRole.Primary, TimeSpan.FromSeconds(MinimumPauseSeconds + 1)),
        new(FaultKind.KillPostmaster, TargetRole.Primary, TimeSpan.Zero),
    ];

    /// <summary>
    /// One partition of the primary long enough for TCP's retransmission back-off (the RTO doubles up to 120 s) to
    /// matter: a connection kept through the partition resumes only at its next retransmission, up to a minute after the heal.
    /// </summary>
    public static IReadOnlyList<FaultPlan> LongPrimaryPartition() =>
    [
        new(FaultKind.PartitionPrimary, TargetRole.Primary, TimeSpan.FromSeconds(60)),
    ];

    /// <summary><paramref name="count"/> faults drawn from <paramref name="seed"/>: kind, role, duration, direction.</summary>
    /// <param name="only">Draw only these (kind, role) pairs (<c>PGRAFT_JEPSEN_FAULTS</c>); null: every kind at every role it applies to.</param>
    public static IReadOnlyList<FaultPlan> Random(int seed, int count, IReadOnlyList<(FaultKind Kind, TargetRole Role)>? only = null)
    {
        var random = new Random(seed);
        var kinds = Enum.GetValues<FaultKind>();
        var roles = Enum.GetValues<TargetRole>();
        var plans = new List<FaultPlan>();
        for (var i = 0; i < count; i++)
        {
            var kind = kinds[random.Next(kinds.Length)];
            var role = kind switch
            {
                FaultKind.PartitionPrimary => TargetRole.Primary,
                FaultKind.PartitionStandbys => TargetRole.Standby,
                _ => roles[random.Next(roles.Length)],
            };
            if (only is { Count: > 0 })
            {
                (kind, role) = only[random.Next(only.Count)];
            }

            var seconds = kind switch
            {
                FaultKind.KillPostmaster => 0,
                FaultKind.PausePgraft => MinimumPauseSeconds + random.NextDouble() * 4,
                _ => 2 + random.NextDouble() * 6,
            };
            plans.Add(new FaultPlan(kind, role, TimeSpan.FromSeconds(Math.Round(seconds, 1)), IntoTarget: random.Next(2) == 0, Pick: random.Next(2)));
        }

        return plans;
    }

    /// <summary>
    /// Parses <c>Kind:Role</c> pairs separated by commas (e.g. <c>PausePgraft:RaftLeader,IsolateNode:RaftLeader</c>), naming
    /// what is wrong and what would be accepted.
    /// </summary>
    public static IReadOnlyList<(FaultKind Kind, TargetRole Role)> ParseFaults(string text)
    {
        var pairs = new List<(FaultKind, TargetRole)>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = item.Split(':');
            if (parts.Length != 2 || !Enum.TryParse<FaultKind>(parts[0], ignoreCase: true, out var kind) || !Enum.TryParse<TargetRole>(parts[1], ignoreCase: true, out var role)
                || !Enum.IsDefined(kind) || !Enum.IsDefined(role))
            {
                throw new FormatException(
                    $"PGRAFT_JEPSEN_FAULTS item '{item}' is not Kind:Role; kinds: {string.Join(", ", Enum.GetNames<FaultKind>())}; roles: {string.Join(", ", Enum.GetNames<TargetRole>())}");
            }

            if ((kind == FaultKind.PartitionPrimary && role != TargetRole.Primary) || (kind == FaultKind.PartitionStandbys && role != TargetRole.Standby))
            {
                throw new FormatException($"PGRAFT_JEPSEN_FAULTS item '{item}': {kind} only applies to the {(kind == FaultKind.PartitionPrimary ? "Primary" : "Standby")} role");
            }

            pairs.Add((kind, role));
        }

        return pairs;
    }
}

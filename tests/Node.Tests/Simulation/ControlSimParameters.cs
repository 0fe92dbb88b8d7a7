using System.Globalization;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Tests.Simulation;

/// <summary>A deliberately broken rule, to show the checker catches it (test-only; lives in the harness, not in src).</summary>
internal enum BrokenRule
{
    None = 0,

    /// <summary>The sentinel believes leases last no time (so it never waits for one) and skips the revoke-and-check before replacing a primary.</summary>
    SentinelSkipsLeaseWait = 1,
}

/// <summary>
/// One schedule's parameters; <see cref="ToReplayString"/> and <see cref="Parse"/> round-trip them.
/// <see cref="OperatorPercent"/>: the share of injected events that are an operator's requests (failover, restart, reinit) instead of faults.
/// </summary>
internal sealed record ControlSimParameters(
    int Seed,
    int Nodes,
    ReplicationMode Mode,
    int SyncStandbyCount,
    int FailTimeoutMs,
    int LeaseTimeoutMs,
    int DriftPermille,
    int DropPercent,
    int MaxDelayMs,
    int FaultSeconds,
    int FaultsPerMinute,
    BrokenRule Broken = BrokenRule.None,
    int OperatorPercent = 0)
{
    /// <summary>Simulated time per step.</summary>
    public static readonly TimeSpan Step = TimeSpan.FromMilliseconds(10);

    /// <summary>Time allowed after healing every fault for the cluster to converge.</summary>
    public static readonly TimeSpan HealBudget = TimeSpan.FromSeconds(60);

    public static ControlSimParameters FromSeed(int seed)
    {
        var random = new Random(seed);
        var lease = random.Next(1000, 4001);
        return new ControlSimParameters(
            seed,
            random.Next(4) == 0 ? 5 : 3,
            (ReplicationMode)random.Next(3),
            random.Next(1, 3),
            random.Next(300, 3001),
            lease,
            random.Next(0, 11),
            random.Next(0, 11),
            random.Next(10, 81),
            random.Next(15, 41),
            random.Next(4, 31),
            BrokenRule.None,
            // Drawn from a random of its own, so every schedule kept from before operator requests existed stays as it was.
            new Random(seed ^ 0x5eed0b5).Next(2) == 0 ? 0 : 25);
    }

    public ClusterSpec Spec => ClusterSpec.Default with
    {
        Mode = Mode,
        SyncStandbyCount = SyncStandbyCount,
        FailTimeout = TimeSpan.FromMilliseconds(FailTimeoutMs),
        LeaseTimeout = TimeSpan.FromMilliseconds(LeaseTimeoutMs),
        FenceMargin = TimeSpan.FromMilliseconds(LeaseTimeoutMs / 4),
        DriftMargin = TimeSpan.FromMilliseconds(Math.Max(100, LeaseTimeoutMs / 20)),
        MaxLagOnFailover = 1 << 20,
    };

    public string ToReplayString() => string.Create(
        CultureInfo.InvariantCulture,
        $"seed={Seed};nodes={Nodes};mode={Mode};k={SyncStandbyCount};fail={FailTimeoutMs};lease={LeaseTimeoutMs};drift={DriftPermille};drop={DropPercent};delay={MaxDelayMs};faultSeconds={FaultSeconds};faultsPerMinute={FaultsPerMinute};broken={Broken};operators={OperatorPercent}");

    /// <summary>A bare integer is a seed (parameters derived from it); otherwise the form <see cref="ToReplayString"/> prints.</summary>
    public static ControlSimParameters Parse(string text)
    {
        text = text.Trim();
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed))
        {
            return FromSeed(seed);
        }

        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"PGRAFT_CONTROL_SIM_SEED: '{part}' is not name=value; give a seed number or the replay string a failure printed.");
            }

            values[part[..eq]] = part[(eq + 1)..];
        }

        int Int(string name) => values.TryGetValue(name, out var v)
            ? int.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture)
            : throw new FormatException($"PGRAFT_CONTROL_SIM_SEED: '{name}' is missing; give a seed number or the replay string a failure printed.");
        return new ControlSimParameters(
            Int("seed"), Int("nodes"), Enum.Parse<ReplicationMode>(values["mode"], ignoreCase: true), Int("k"), Int("fail"), Int("lease"),
            Int("drift"), Int("drop"), Int("delay"), Int("faultSeconds"), Int("faultsPerMinute"),
            values.TryGetValue("broken", out var broken) ? Enum.Parse<BrokenRule>(broken, ignoreCase: true) : BrokenRule.None,
            values.TryGetValue("operators", out var operators) ? int.Parse(operators, NumberStyles.Integer, CultureInfo.InvariantCulture) : 0);
    }
}

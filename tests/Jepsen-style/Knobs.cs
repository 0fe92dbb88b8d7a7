using System.Globalization;
using System.Security.Cryptography;

namespace PgRaft.JepsenStyle;

/// <summary>The environment variables that steer these tests (see README.md).</summary>
internal static class Knobs
{
    /// <summary>Random faults in one round of the seeded schedule.</summary>
    public const int FaultsPerRound = 6;

    /// <summary>The schedule CI runs, so a run is repeatable (the same faults; timings still vary).</summary>
    public const int DefaultSeed = 20261205;

    /// <summary>PGRAFT_JEPSEN_SEED: a seed to replay, or <c>random</c> to draw a new schedule; default <see cref="DefaultSeed"/>.</summary>
    public static int Seed => Environment.GetEnvironmentVariable("PGRAFT_JEPSEN_SEED") switch
    {
        null or "" => DefaultSeed,
        "random" => RandomNumberGenerator.GetInt32(1, int.MaxValue),
        var text when int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed) && seed > 0 => seed,
        var text => throw new FormatException($"PGRAFT_JEPSEN_SEED '{text}' is neither a positive number nor 'random'"),
    };

    /// <summary>PGRAFT_JEPSEN_ROUNDS: rounds of <see cref="FaultsPerRound"/> random faults (default 1).</summary>
    public static int Rounds => Environment.GetEnvironmentVariable("PGRAFT_JEPSEN_ROUNDS") is { Length: > 0 } text
        ? Math.Max(1, int.Parse(text, CultureInfo.InvariantCulture))
        : 1;

    /// <summary>PGRAFT_JEPSEN_FAULTS: the only Kind:Role pairs the seeded schedule draws (default: all), for a soak of one kind.</summary>
    public static IReadOnlyList<(Faults.FaultKind Kind, Faults.TargetRole Role)>? Faults =>
        Environment.GetEnvironmentVariable("PGRAFT_JEPSEN_FAULTS") is { Length: > 0 } text ? PgRaft.JepsenStyle.Faults.Schedules.ParseFaults(text) : null;
}

using System.Globalization;
using System.Security.Cryptography;

namespace PgRaft.JepsenStyle;

/// <summary>The environment variables that steer these tests (see README.md).</summary>
internal static class Knobs
{
    /// <summary>Random faults in one round of the seeded schedule.</summary>
    public const int FaultsPerRound = 6;

    /// <summary>PGRAFT_JEPSEN_SEED replays a seeded schedule; otherwise each run draws one.</summary>
    public static int Seed => Environment.GetEnvironmentVariable("PGRAFT_JEPSEN_SEED") is { Length: > 0 } text
        ? int.Parse(text, CultureInfo.InvariantCulture)
        : RandomNumberGenerator.GetInt32(1, int.MaxValue);

    /// <summary>PGRAFT_JEPSEN_ROUNDS: rounds of <see cref="FaultsPerRound"/> random faults (default 1).</summary>
    public static int Rounds => Environment.GetEnvironmentVariable("PGRAFT_JEPSEN_ROUNDS") is { Length: > 0 } text
        ? Math.Max(1, int.Parse(text, CultureInfo.InvariantCulture))
        : 1;
}

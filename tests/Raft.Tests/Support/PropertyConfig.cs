using System.Globalization;
using FsCheck;
using Microsoft.FSharp.Core;

namespace PgRaft.Raft.Tests.Support;

/// <summary>
/// FsCheck configuration with a fixed generator seed, so every CI run checks the same cases and stays reproducible.
/// Set PGRAFT_PROPERTY_SEED to another number to explore different cases, or to "random" for a fresh seed each run;
/// a failure prints the seed to replay either way.
/// </summary>
internal static class PropertyConfig
{
    private const ulong DefaultSeed = 20_261_122;

    public static Config Seeded(int maxTests)
    {
        var config = Config.QuickThrowOnFailure.WithMaxTest(maxTests).WithQuietOnSuccess(true);
        var setting = Environment.GetEnvironmentVariable("PGRAFT_PROPERTY_SEED");
        if (string.Equals(setting, "random", StringComparison.OrdinalIgnoreCase))
        {
            return config;
        }

        var seed = ulong.TryParse(setting, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : DefaultSeed;
        return config.WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(seed), FSharpOption<int>.None)));
    }
}

using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;

namespace PgRaft.Node.Tests.Cluster;

/// <summary>
/// Runs an FsCheck property over scenario seeds. The scenario is built deterministically from the seed, and FsCheck's
/// own generator is seeded too, so every run checks the same cases and a failure names the seed to replay.
/// </summary>
internal static class Properties
{
    public static void ForAllSeeds(ulong fsCheckSeed, int cases, Func<int, bool> property)
    {
        var config = Config.QuickThrowOnFailure
            .WithMaxTest(cases)
            .WithQuietOnSuccess(true)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(fsCheckSeed), FSharpOption<int>.None)));
        Check.One(config, Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), property));
    }
}

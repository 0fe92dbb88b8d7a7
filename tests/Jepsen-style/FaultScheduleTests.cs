using PgRaft.JepsenStyle.Faults;

namespace PgRaft.JepsenStyle;

/// <summary>
/// Whole three-node clusters of real pgraft processes in network namespaces, under a workload and one fault at a time;
/// the checker then asks: no acknowledged write lost, no write that never happened, identical copies, one primary at a
/// time, and writes back within a bound after every heal.
/// </summary>
public sealed class FaultScheduleTests
{
    [Fact]
    public async Task Every_fault_kind_once_loses_no_acknowledged_write_and_never_shows_two_primaries()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        var violations = await new JepsenRun().RunAsync("every fault kind once", Schedules.EveryKindOnce(), limit.Token);
        Assert.True(violations.Count == 0, "violations:\n" + string.Join("\n", violations));
    }

    [Fact]
    public async Task A_seeded_random_schedule_loses_no_acknowledged_write_and_never_shows_two_primaries()
    {
        var seed = Knobs.Seed;
        var rounds = Knobs.Rounds;
        var only = Knobs.Faults;
        Console.WriteLine($"seed {seed}, {rounds} round(s) of {Knobs.FaultsPerRound} faults{(only is null ? "" : $" of {string.Join(", ", only)} only")}; replay with PGRAFT_JEPSEN_SEED={seed} PGRAFT_JEPSEN_ROUNDS={rounds}");
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(10 + 3 * rounds * Knobs.FaultsPerRound));
        var violations = await new JepsenRun().RunAsync($"seeded random schedule, seed {seed}", Schedules.Random(seed, rounds * Knobs.FaultsPerRound, only), limit.Token);
        Assert.True(violations.Count == 0, $"seed {seed} (replay with PGRAFT_JEPSEN_SEED={seed} PGRAFT_JEPSEN_ROUNDS={rounds}); violations:\n" + string.Join("\n", violations));
    }

    [Fact]
    public async Task A_primary_partitioned_for_a_minute_is_back_in_the_cluster_within_the_recovery_bound_after_the_heal()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var violations = await new JepsenRun().RunAsync("a primary partitioned for a minute", Schedules.LongPrimaryPartition(), limit.Token);
        Assert.True(violations.Count == 0, "violations:\n" + string.Join("\n", violations));
    }
}

using System.Text.Json;
using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Cluster;

namespace PgRaft.Node.Tests.Sentinel;

public sealed class ControlPlaneSimulationTests
{
    [Fact]
    public void Under_random_faults_there_is_never_more_than_one_writable_primary_no_acknowledged_write_is_lost_in_sync_modes_and_the_cluster_converges()
    {
        var totals = new Dictionary<string, int>(StringComparer.Ordinal);
        Properties.ForAllSeeds(307, 60, seed =>
        {
            var simulation = new ControlPlaneSimulation(seed);
            simulation.Run(faultTicks: 400, healTicks: 300);
            foreach (var (name, count) in simulation.Events)
            {
                totals[name] = totals.GetValueOrDefault(name) + count;
            }

            if (simulation.Violations.Count > 0)
            {
                throw new InvalidOperationException($"seed {seed} ({simulation.Mode}):\n  " + string.Join("\n  ", simulation.Violations.Take(10))
                    + "\nlast events:\n  " + string.Join("\n  ", simulation.Trace.TakeLast(20)));
            }

            return true;
        });

        // The faults must actually have caused failovers, fencing and switchovers, or the property proves little.
        var summary = JsonSerializer.Serialize(totals);
        foreach (var name in new[] { "decided Failover", "decided Switchover", "keeper fenced", "guard fenced", "rewind", "election" })
        {
            Assert.True(totals.GetValueOrDefault(name) > 0, $"{name} never happened: {summary}");
        }
    }

    [Fact]
    public void A_sentinel_that_ignores_leases_lets_two_primaries_write_in_the_simulation() =>
        Assert.True(FindsPhysicalViolation(
            input => SentinelRules.Decide(input with { Leases = PgRaft.Node.Lease.LeaseTable.StartTerm(input.Now - TimeSpan.FromHours(1)) }),
            "two writable primaries"));

    [Fact]
    public void A_sentinel_that_ignores_the_sync_set_loses_acknowledged_writes_in_the_simulation() =>
        Assert.True(FindsPhysicalViolation(
            input => SentinelRules.Decide(input with { State = input.State with { Spec = input.Spec with { Mode = ReplicationMode.Async, MaxLagOnFailover = long.MaxValue } } }),
            "lacks acknowledged writes"));

    /// <summary>Runs wrong rule variants until the simulation's own checks (not the oracle) see the harm.</summary>
    private static bool FindsPhysicalViolation(Func<SentinelInput, SentinelDecision> decide, string harm)
    {
        for (var seed = 0; seed < 60; seed++)
        {
            var simulation = new ControlPlaneSimulation(seed, decide);
            simulation.Run(faultTicks: 400, healTicks: 0);
            if (simulation.Violations.Any(v => v.Contains(harm, StringComparison.Ordinal)))
            {
                return true;
            }
        }

        return false;
    }
}

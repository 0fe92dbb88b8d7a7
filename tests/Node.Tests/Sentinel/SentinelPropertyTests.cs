using System.Text.Json;
using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Cluster;

namespace PgRaft.Node.Tests.Sentinel;

public sealed class SentinelPropertyTests
{
    private const int Cases = 4000;

    private static bool Safe(int seed, Func<SentinelInput, SentinelDecision> decide, Func<SentinelInput, SentinelInput>? shape = null)
    {
        var input = SentinelScenario.Build(seed);
        input = shape is null ? input : shape(input);
        var decision = decide(input);
        var violations = SafetyOracle.Violations(input, decision);
        if (violations.Count > 0)
        {
            throw new InvalidOperationException($"seed {seed}: {decision}\n  " + string.Join("\n  ", violations));
        }

        return true;
    }

    [Fact]
    public void Every_decision_on_random_states_keeps_the_safety_rules() =>
        Properties.ForAllSeeds(101, Cases, seed => Safe(seed, SentinelRules.Decide));

    [Fact]
    public void The_random_states_reach_every_kind_of_decision()
    {
        // Guards the generator: a property over states that never promote would prove nothing.
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var seed = 0; seed < Cases; seed++)
        {
            var decision = SentinelRules.Decide(SentinelScenario.Build(seed));
            var kind = decision.Command switch
            {
                ChangeView { History: { } h } => "promote:" + h.Reason,
                ChangeView => "view",
                null => "wait:" + decision.Status,
                _ => decision.Command.GetType().Name,
            };
            seen[kind] = seen.GetValueOrDefault(kind) + 1;
        }

        var summary = JsonSerializer.Serialize(seen);
        foreach (var kind in new[] { "promote:Failover", "promote:Switchover", "promote:Bootstrap", "view", "RecordBootstrap", "SwitchoverStopped", "CancelSwitchover",
                     "wait:WaitingForLease", "wait:NoCandidate", "wait:Paused", "wait:Healthy", "wait:Converging" })
        {
            Assert.True(seen.GetValueOrDefault(kind) >= 3, $"{kind} seen {seen.GetValueOrDefault(kind)} times in {Cases} states: {summary}");
        }
    }

    [Fact]
    public void A_sentinel_that_ignores_leases_is_caught()
    {
        // A wrong rule variant: the same sentinel, told that its term began long ago and that it granted nothing.
        static SentinelDecision LeaseIgnorant(SentinelInput input) =>
            SentinelRules.Decide(input with { Leases = LeaseTable.StartTerm(input.Now - TimeSpan.FromHours(1)) });

        // Asynchronous inputs, so that only the lease rule can catch it (in sync modes the report cut-off moves too).
        static SentinelInput Async(SentinelInput input) =>
            input with { State = input.State with { Spec = input.Spec with { Mode = ReplicationMode.Async } } };

        var error = Assert.ThrowsAny<Exception>(() => Properties.ForAllSeeds(102, Cases, seed => Safe(seed, LeaseIgnorant, Async)));
        Assert.Contains("lease could have run out", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_sentinel_that_ignores_the_sync_set_is_caught()
    {
        // A wrong rule variant: decide as if replication were asynchronous with unlimited lag.
        static SentinelDecision SyncIgnorant(SentinelInput input) =>
            SentinelRules.Decide(input with { State = input.State with { Spec = input.Spec with { Mode = ReplicationMode.Async, MaxLagOnFailover = long.MaxValue } } });

        // Synchronous inputs, so that only the sync rules can catch it (in async mode the lag rule would).
        static SentinelInput Sync(SentinelInput input) =>
            input.Spec.IsSynchronous ? input : input with { State = input.State with { Spec = input.Spec with { Mode = ReplicationMode.Sync } } };

        var error = Assert.ThrowsAny<Exception>(() => Properties.ForAllSeeds(103, Cases, seed => Safe(seed, SyncIgnorant, Sync)));
        Assert.Matches("outside the committed sync set|behind another sync member|sync members reported|no confirmed synchronous standby", error.ToString());
    }

    [Fact]
    public void A_sentinel_that_shrinks_the_sync_set_at_once_is_caught()
    {
        // A wrong rule variant: pretend the primary always reports that it applied what it was told.
        static SentinelDecision Eager(SentinelInput input)
        {
            if (input.State.View.Primary is not { } primary || input.Reports.Latest(primary) is not { } report)
            {
                return SentinelRules.Decide(input);
            }

            var lying = input.Reports.With(report with { AppliedSync = input.State.View.PrimarySync, AppliedGeneration = input.State.View.Generation });
            return SentinelRules.Decide(input with { Reports = lying });
        }

        var error = Assert.ThrowsAny<Exception>(() => Properties.ForAllSeeds(104, Cases, seed => Safe(seed, Eager)));
        Assert.Contains("before the primary reported it applied", error.ToString(), StringComparison.Ordinal);
    }
}

using PgRaft.JepsenStyle.Checking;
using PgRaft.JepsenStyle.Faults;
using PgRaft.JepsenStyle.Workload;
using PgRaft.Node.Cluster;

namespace PgRaft.JepsenStyle.CheckerTests;

/// <summary>Small hand-made runs for the checker's own tests: one client, three nodes, node1 primary throughout.</summary>
internal static class Observations
{
    public static Operation Op(int client, int seq, double start, double end, Outcome outcome = Outcome.Ok, int? ackedBy = 1) =>
        new(new Key(client, seq), TimeSpan.FromSeconds(start), TimeSpan.FromSeconds(end), outcome, outcome == Outcome.Ok ? ackedBy : null, outcome == Outcome.Ok ? null : "broken");

    public static HistoryEntry Change(long generation, string primary) =>
        new(generation, null, primary, ChangeReason.Failover, 1, default, DateTimeOffset.UnixEpoch);

    public static FaultRecord Fault(double injected, double healed, double? recovered, int oldPrimary = 1, int probeClient = 100, bool fenceExpected = false) =>
        new(1, new FaultPlan(FaultKind.PartitionPrimary, TargetRole.Primary, TimeSpan.FromSeconds(healed - injected)), "test fault", oldPrimary,
            TimeSpan.FromSeconds(injected), TimeSpan.FromSeconds(healed), recovered is { } r ? TimeSpan.FromSeconds(r) : null, probeClient, fenceExpected);

    /// <summary>A clean run: three acknowledged inserts present on every node, one primary in every sample, one history.</summary>
    public static RunObservations Clean() => Run(
        [Op(1, 1, 0.0, 0.1), Op(1, 2, 0.2, 0.3), Op(1, 3, 0.4, 0.5, Outcome.Failed), Op(1, 4, 0.6, 0.7, Outcome.Unknown)],
        [new Key(1, 1), new Key(1, 2)]);

    public static RunObservations Run(IReadOnlyList<Operation> operations, IReadOnlyList<Key> rows, IReadOnlyList<FaultRecord>? faults = null) =>
        new(
            operations,
            new Dictionary<int, int> { [1] = 1 },
            faults ?? [],
            [new PrimarySample(TimeSpan.Zero, [1]), new PrimarySample(TimeSpan.FromSeconds(0.1), [1])],
            new Dictionary<int, IReadOnlyList<HistoryEntry>> { [1] = [Change(1, "node1")], [2] = [Change(1, "node1")], [3] = [Change(1, "node1")] },
            new FinalState(1, new Dictionary<int, IReadOnlyList<Key>> { [1] = rows, [2] = rows, [3] = rows }));
}

using PgRaft.JepsenStyle.Workload;
using PgRaft.Node.Cluster;

namespace PgRaft.JepsenStyle.Checking;

/// <summary>
/// What a converged cluster holds at the end: the final primary, and every node's copy of the table as read straight
/// from its PostgreSQL (keys sorted, duplicates kept).
/// </summary>
internal sealed record FinalState(int Primary, IReadOnlyDictionary<int, IReadOnlyList<Key>> RowsByNode);

/// <summary>
/// Everything a run saw, for <see cref="Checker"/> and <see cref="FaultSummary"/> to judge. <see cref="WorkloadEntries"/>
/// maps each workload client to the node whose proxy it enters through.
/// </summary>
internal sealed record RunObservations(
    IReadOnlyList<Operation> Operations,
    IReadOnlyDictionary<int, int> WorkloadEntries,
    IReadOnlyList<FaultRecord> Faults,
    IReadOnlyList<PrimarySample> Samples,
    IReadOnlyDictionary<int, IReadOnlyList<HistoryEntry>> Histories,
    FinalState Final)
{
    /// <summary>How long after a heal every client must write again.</summary>
    public static TimeSpan RecoveryBound { get; } = TimeSpan.FromSeconds(30);

    /// <summary>How long after the fault a client connected straight to a primary that lost its lease may keep it.</summary>
    public static TimeSpan FenceBound { get; } = TimeSpan.FromSeconds(5);

    public IEnumerable<Operation> Acknowledged => Operations.Where(o => o.Outcome == Outcome.Ok);

    /// <summary>Each workload client's first acknowledged insert begun after the fault healed (absent: none yet).</summary>
    public IReadOnlyDictionary<int, Operation> FirstWritesAfterHeal(FaultRecord fault) =>
        Acknowledged.Where(o => o.Start >= fault.Healed && WorkloadEntries.ContainsKey(o.Key.Client))
            .GroupBy(o => o.Key.Client)
            .ToDictionary(g => g.Key, g => g.MinBy(o => o.End)!);

    /// <summary>The first operation of the fault's probe client that did not succeed, after the fault began: the fence as a client saw it.</summary>
    public Operation? FirstProbeFailure(FaultRecord fault) =>
        Operations.Where(o => o.Key.Client == fault.ProbeClient && o.Outcome != Outcome.Ok && o.End >= fault.Injected)
            .MinBy(o => o.End);
}

using System.Globalization;
using PgRaft.JepsenStyle.Workload;

namespace PgRaft.JepsenStyle.Checking;

/// <summary>
/// Judges a run. Every method returns the violations it found, each a sentence naming what broke and where;
/// an empty list is a pass.
/// </summary>
internal static class Checker
{
    private const int Listed = 10;

    public static IReadOnlyList<string> Check(RunObservations run) =>
    [
        .. LostWrites(run),
        .. UnexpectedRows(run),
        .. Divergence(run),
        .. SinglePrimary(run),
        .. Histories(run),
        .. Recovery(run),
        .. Fencing(run),
        .. NoWritesOnOldPrimary(run),
    ];

    /// <summary>(a) Every acknowledged insert is on the final primary.</summary>
    public static IEnumerable<string> LostWrites(RunObservations run)
    {
        var present = run.Final.RowsByNode[run.Final.Primary].ToHashSet();
        var lost = run.Acknowledged.Where(o => !present.Contains(o.Key)).ToList();
        if (lost.Count > 0)
        {
            yield return $"{lost.Count} acknowledged writes are missing on the final primary node{run.Final.Primary}: " +
                string.Join("; ", lost.Take(Listed).Select(o => $"{o.Key} acked by node{o.AckedBy} at +{Seconds(o.End)} s{(o.Warning is null ? "" : $" with warning '{o.Warning}'")}"));
        }
    }

    /// <summary>(b) No row that no client tried to write, none whose insert certainly failed, no key twice.</summary>
    public static IEnumerable<string> UnexpectedRows(RunObservations run)
    {
        var rows = run.Final.RowsByNode[run.Final.Primary];
        var outcomes = run.Operations.GroupBy(o => o.Key).ToDictionary(g => g.Key, g => g.ToList());
        var neverAttempted = rows.Where(k => !outcomes.ContainsKey(k)).Distinct().ToList();
        if (neverAttempted.Count > 0)
        {
            yield return $"{neverAttempted.Count} rows on node{run.Final.Primary} were never written by any client: {string.Join(", ", neverAttempted.Take(Listed))}";
        }

        var failed = rows.Where(k => outcomes.TryGetValue(k, out var ops) && ops.All(o => o.Outcome == Outcome.Failed)).Distinct().ToList();
        if (failed.Count > 0)
        {
            yield return $"{failed.Count} rows on node{run.Final.Primary} belong to inserts that certainly failed: " +
                string.Join("; ", failed.Take(Listed).Select(k => $"{k}: {outcomes[k][0].Error}"));
        }

        var duplicates = rows.GroupBy(k => k).Where(g => g.Count() > 1).Select(g => $"{g.Key} x{g.Count()}").ToList();
        if (duplicates.Count > 0)
        {
            yield return $"{duplicates.Count} keys appear more than once on node{run.Final.Primary}: {string.Join(", ", duplicates.Take(Listed))}";
        }
    }

    /// <summary>(c) After convergence every node holds exactly the final primary's rows.</summary>
    public static IEnumerable<string> Divergence(RunObservations run)
    {
        var reference = run.Final.RowsByNode[run.Final.Primary];
        foreach (var (node, rows) in run.Final.RowsByNode.Where(r => r.Key != run.Final.Primary).OrderBy(r => r.Key))
        {
            if (!rows.SequenceEqual(reference))
            {
                var missing = reference.Except(rows).Take(Listed).ToList();
                var extra = rows.Except(reference).Take(Listed).ToList();
                yield return $"node{node} holds {rows.Count} rows, the primary node{run.Final.Primary} {reference.Count}: " +
                    $"missing {string.Join(", ", missing)}; extra {string.Join(", ", extra)}";
            }
        }
    }

    /// <summary>(d) No sample ever saw two nodes answer 200 on /primary.</summary>
    public static IEnumerable<string> SinglePrimary(RunObservations run)
    {
        var doubled = run.Samples.Where(s => s.Primaries.Count > 1).ToList();
        if (doubled.Count > 0)
        {
            yield return $"{doubled.Count} of {run.Samples.Count} /primary samples saw more than one primary: " +
                string.Join("; ", doubled.Take(Listed).Select(s => $"+{Seconds(s.At)} s nodes {string.Join(",", s.Primaries)}"));
        }

        if (run.Samples.Count == 0)
        {
            yield return "no /primary sample was taken";
        }
    }

    /// <summary>(d) Each node's history has strictly rising generations, and all nodes tell the same history.</summary>
    public static IEnumerable<string> Histories(RunObservations run)
    {
        foreach (var (node, history) in run.Histories.OrderBy(h => h.Key))
        {
            for (var i = 1; i < history.Count; i++)
            {
                if (history[i].Generation <= history[i - 1].Generation)
                {
                    yield return $"node{node}'s history does not rise: generation {history[i].Generation} ({history[i].NewPrimary}) follows {history[i - 1].Generation} ({history[i - 1].NewPrimary})";
                }
            }
        }

        var distinct = run.Histories.Values.Select(Describe).Distinct().ToList();
        if (distinct.Count > 1)
        {
            yield return "the nodes tell different histories: " + string.Join(" / ", run.Histories.OrderBy(h => h.Key).Select(h => $"node{h.Key}: {Describe(h.Value)}"));
        }

        static string Describe(IReadOnlyList<PgRaft.Node.Cluster.HistoryEntry> history) =>
            string.Join(" ", history.Select(e => $"{e.Generation}:{e.NewPrimary}"));
    }

    /// <summary>(e) Every client writes again within <see cref="RunObservations.RecoveryBound"/> of each heal.</summary>
    public static IEnumerable<string> Recovery(RunObservations run)
    {
        foreach (var fault in run.Faults)
        {
            var firsts = run.FirstWritesAfterHeal(fault);
            var silent = run.WorkloadEntries.Keys.Where(c => !firsts.ContainsKey(c)).Order().ToList();
            if (fault.Recovered is null || silent.Count > 0)
            {
                yield return $"fault {fault.Number} ({fault.Plan}): {Clients(run, silent)} never wrote again after the heal";
                continue;
            }

            var late = firsts.Values.Where(o => o.End - fault.Healed > RunObservations.RecoveryBound).OrderByDescending(o => o.End).ToList();
            if (late.Count > 0)
            {
                yield return $"fault {fault.Number} ({fault.Plan}): {Clients(run, late.Select(o => o.Key.Client))} wrote again only " +
                    $"{Seconds(late[0].End - fault.Healed)} s after the heal (bound {RunObservations.RecoveryBound.TotalSeconds} s)";
            }
        }

        static string Clients(RunObservations run, IEnumerable<int> clients) =>
            "client " + string.Join(", ", clients.Select(c => $"{c} (through node{run.WorkloadEntries.GetValueOrDefault(c)})"));
    }

    /// <summary>
    /// A primary that lost its lease while this test process could still reach it: the client connected straight to
    /// its PostgreSQL loses it within <see cref="RunObservations.FenceBound"/>, and gets no write through before the heal.
    /// </summary>
    public static IEnumerable<string> Fencing(RunObservations run)
    {
        foreach (var fault in run.Faults.Where(f => f.FenceExpected))
        {
            var fence = run.FirstProbeFailure(fault);
            if (fence is null || fence.End > fault.Healed)
            {
                yield return $"fault {fault.Number} ({fault.Plan}): the client connected straight to node{fault.OldPrimary}'s PostgreSQL kept writing until the heal";
                continue;
            }

            if (fence.End - fault.Injected > RunObservations.FenceBound)
            {
                yield return $"fault {fault.Number} ({fault.Plan}): the client connected straight to node{fault.OldPrimary}'s PostgreSQL lost it only {Seconds(fence.End - fault.Injected)} s after the fault (bound {RunObservations.FenceBound.TotalSeconds} s)";
            }

            var after = run.Acknowledged.Where(o => o.Key.Client == fault.ProbeClient && o.Start > fence.End && o.Start < fault.Healed).ToList();
            if (after.Count > 0)
            {
                yield return $"fault {fault.Number} ({fault.Plan}): node{fault.OldPrimary} took {after.Count} direct writes after it was fenced at +{Seconds(fence.End)} s, first {after[0].Key} at +{Seconds(after[0].Start)} s";
            }
        }
    }

    /// <summary>
    /// Two primaries never take writes at once: once a new primary acknowledged a write during a fault, no write that
    /// started later is acknowledged by the old one.
    /// </summary>
    public static IEnumerable<string> NoWritesOnOldPrimary(RunObservations run)
    {
        foreach (var fault in run.Faults)
        {
            var inWindow = run.Acknowledged.Where(o => o.End > fault.Injected && o.Start <= fault.WindowEnd).ToList();
            var firstNew = inWindow.Where(o => o.AckedBy is { } by && by != fault.OldPrimary).MinBy(o => o.End);
            if (firstNew is null)
            {
                continue;
            }

            var late = inWindow.Where(o => o.AckedBy == fault.OldPrimary && o.Start > firstNew.End).OrderBy(o => o.Start).ToList();
            if (late.Count > 0)
            {
                yield return $"fault {fault.Number} ({fault.Plan}): node{firstNew.AckedBy} acknowledged {firstNew.Key} at +{Seconds(firstNew.End)} s, " +
                    $"yet the old primary node{fault.OldPrimary} acknowledged {late.Count} writes begun after that, first {late[0].Key} begun at +{Seconds(late[0].Start)} s";
            }
        }
    }

    internal static string Seconds(TimeSpan time) => time.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture);
}

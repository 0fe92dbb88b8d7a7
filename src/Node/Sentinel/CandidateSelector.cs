using PgRaft.Node.Cluster;

namespace PgRaft.Node.Sentinel;

/// <summary>A standby that may be promoted, with the figures the choice is made on.</summary>
internal sealed record Candidate(string NodeId, Lsn Position, int Priority, int Timeline);

/// <summary>The outcome of a candidate search: the chosen node (or none) and a human explanation either way.</summary>
internal sealed record CandidateChoice(Candidate? Chosen, string Explanation);

/// <summary>DESIGN §6 and §8: who may replace a failed primary.</summary>
internal static class CandidateSelector
{
    /// <summary>The order among candidates: highest WAL position, then priority, then node id.</summary>
    public static IOrderedEnumerable<Candidate> Rank(IEnumerable<Candidate> candidates) =>
        candidates.OrderByDescending(c => c.Position).ThenByDescending(c => c.Priority).ThenBy(c => c.NodeId, StringComparer.Ordinal);

    /// <param name="reportsAfter">
    /// In sync modes only reports observed at or after this moment count (their <see cref="KeeperReport.ObservedAt"/>
    /// stamp, never their arrival: the old primary's lease had run out, so it had stopped acknowledging commits and the
    /// positions are final).
    /// </param>
    /// <param name="only">An operator's chosen target: every other standby is excluded (but still counts for the positions compared in sync modes).</param>
    public static CandidateChoice ForFailover(SentinelInput input, string oldPrimary, TimeSpan reportsAfter, string? only = null)
    {
        var state = input.State;
        var spec = state.Spec;
        var systemId = state.Bootstrap?.SystemIdentifier;
        var oldReport = input.Reports.Latest(oldPrimary);
        var timeline = PrimaryTimeline(input, oldPrimary);

        var excluded = new List<string>();
        var eligible = new List<(Candidate Candidate, KeeperReport Report)>();
        foreach (var member in state.Members.Values)
        {
            if (member.NodeId == oldPrimary)
            {
                continue;
            }

            var why = Exclusion(input, member, systemId, timeline, out var report);
            if (why is not null)
            {
                excluded.Add(why);
                continue;
            }

            if (only is not null && member.NodeId != only)
            {
                excluded.Add($"{member.NodeId} was not asked for");
                continue;
            }

            eligible.Add((new Candidate(member.NodeId, report!.Position!.Value, member.Tags.Priority, report.Timeline), report));
        }

        var positions = Positions(input, oldPrimary);
        if (!spec.IsSynchronous)
        {
            return Async(input, oldReport, eligible, excluded, positions);
        }

        return Synchronous(input, systemId, reportsAfter, eligible, excluded, positions);
    }

    private static CandidateChoice Async(
        SentinelInput input,
        KeeperReport? oldReport,
        List<(Candidate Candidate, KeeperReport Report)> eligible,
        List<string> excluded,
        string positions)
    {
        var spec = input.Spec;
        var systemId = input.State.Bootstrap?.SystemIdentifier;
        Lsn reference;
        string referenceText;
        if (oldReport is { Role: PgRole.Primary, FlushLsn: { } flush })
        {
            reference = flush;
            referenceText = $"the old primary's last known position {flush}";
        }
        else
        {
            // A new leader may never have heard from the old primary: compare with the most advanced standby instead.
            reference = input.State.Members.Keys
                .Select(input.Fresh)
                .Where(r => r is { Position: not null } && r.SystemIdentifier == systemId)
                .Select(r => r!.Position!.Value)
                .DefaultIfEmpty(Lsn.Zero)
                .Max();
            referenceText = $"the most advanced standby at {reference} (the old primary's position is unknown)";
        }

        var within = new List<Candidate>();
        foreach (var (candidate, _) in eligible)
        {
            var lag = reference.BytesSince(candidate.Position);
            if (lag > (ulong)spec.MaxLagOnFailover)
            {
                excluded.Add($"{candidate.NodeId} lags {Describe.Bytes(lag)} > maxLagOnFailover {Describe.Bytes(spec.MaxLagOnFailover)}");
            }
            else
            {
                within.Add(candidate);
            }
        }

        var chosen = Rank(within).FirstOrDefault();
        return chosen is null
            ? new(null, $"no candidate ({Join(excluded)}) against {referenceText}")
            : new(chosen, positions);
    }

    private static CandidateChoice Synchronous(
        SentinelInput input,
        ulong? systemId,
        TimeSpan reportsAfter,
        List<(Candidate Candidate, KeeperReport Report)> eligible,
        List<string> excluded,
        string positions)
    {
        var sync = input.State.View.Sync;
        if (sync.IsAsync)
        {
            return new(null, $"no synchronous standby is confirmed in the committed sync set ({sync}), so no standby is known to hold every acknowledged commit");
        }

        // Positions of sync set members reported after the old primary could no longer acknowledge anything.
        var compared = new List<(string NodeId, Lsn Position)>();
        foreach (var id in sync.Standbys)
        {
            if (input.Reports.Latest(id) is { Role: PgRole.Standby, Position: { } position } report
                && report.ObservedAt >= reportsAfter
                && report.SystemIdentifier == systemId)
            {
                compared.Add((id, position));
            }
        }

        var need = sync.MembersToCompare;
        if (compared.Count < need)
        {
            return new(null, $"only {compared.Count} of the sync set {sync} reported a final position, {need} needed to be sure of every acknowledged commit");
        }

        var highest = compared.Max(c => c.Position);
        var comparedIds = compared.Select(c => c.NodeId).ToHashSet(StringComparer.Ordinal);
        var candidates = eligible
            .Where(e => comparedIds.Contains(e.Candidate.NodeId) && e.Report.ObservedAt >= reportsAfter)
            .Select(e => e.Candidate)
            .ToList();
        foreach (var (candidate, _) in eligible)
        {
            if (!sync.Standbys.Contains(candidate.NodeId))
            {
                excluded.Add($"{candidate.NodeId} is not in the committed sync set {sync}");
            }
        }

        // Every commit acknowledged before the current primary took over is on it (it was the most advanced then), but
        // the sync set it started with may not have it yet: a candidate still on that timeline must have reached the
        // take-over position, or failing over from a primary that barely started could lose those commits.
        if (input.State.History.LastOrDefault() is { Reason: not ChangeReason.Bootstrap } tookOver && tookOver.NewPrimary == input.State.View.Primary)
        {
            foreach (var behind in candidates.Where(c => c.Timeline == tookOver.Timeline && c.Position < tookOver.Lsn).ToList())
            {
                candidates.Remove(behind);
                excluded.Add($"{behind.NodeId} at {behind.Position} has not reached {tookOver.Lsn}, where {tookOver.NewPrimary} took over at generation {tookOver.Generation}");
            }
        }

        var chosen = Rank(candidates).FirstOrDefault();
        if (chosen is null || chosen.Position < highest)
        {
            var leader = compared.OrderByDescending(c => c.Position).ThenBy(c => c.NodeId, StringComparer.Ordinal).First();
            return new(null, $"the most advanced sync standby {leader.NodeId} at {highest} cannot be promoted ({Join(excluded)}); promoting another could lose acknowledged commits");
        }

        return new(chosen, positions);
    }

    /// <summary>
    /// Why no standby (or not <paramref name="only"/>) could take over from <paramref name="oldPrimary"/> even once its
    /// lease has run out, judged on eligibility alone (health, system, timeline, tags, sync set) and not on positions,
    /// which move while the primary still writes; null when one could.
    /// </summary>
    public static string? NobodyCouldTakeOver(SentinelInput input, string oldPrimary, string? only)
    {
        var state = input.State;
        var systemId = state.Bootstrap?.SystemIdentifier;
        var timeline = PrimaryTimeline(input, oldPrimary);
        var reasons = new List<string>();
        foreach (var member in state.Members.Values.Where(m => m.NodeId != oldPrimary && (only is null || m.NodeId == only)))
        {
            if (Exclusion(input, member, systemId, timeline, out _) is { } why)
            {
                reasons.Add(why);
            }
            else if (state.Spec.IsSynchronous && !state.View.Sync.Standbys.Contains(member.NodeId))
            {
                reasons.Add($"{member.NodeId} is not in the committed sync set {state.View.Sync}, so it may lack acknowledged commits");
            }
            else
            {
                return null;
            }
        }

        return reasons.Count == 0 ? $"{only ?? "no standby"} is not a member other than the primary" : string.Join("; ", reasons);
    }

    /// <summary>Why a member cannot be promoted (null when it can, and then <paramref name="report"/> is its fresh report with a position).</summary>
    private static string? Exclusion(SentinelInput input, Member member, ulong? systemId, int? timeline, out KeeperReport? report)
    {
        var id = member.NodeId;
        report = input.Reports.Latest(id);
        if (report is null)
        {
            return $"{id} has not reported";
        }

        if (!input.IsFresh(report))
        {
            return report.ObservedAt is { } observedAt
                ? $"{id} silent for {Describe.Seconds(input.Now - observedAt)}"
                : $"{id} has sent no report this leader can date yet";
        }

        if (!report.IsHealthyStandby)
        {
            return $"{id} is not a healthy running standby{(report.Error is { } error ? $" ({error})" : string.Empty)}";
        }

        if (report.SystemIdentifier != systemId)
        {
            return $"{id} has system identifier {report.SystemIdentifier?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, not the cluster's";
        }

        if (timeline is { } expected && report.Timeline != expected)
        {
            return $"{id} is on timeline {report.Timeline}, the primary on {expected}";
        }

        if (member.Tags.NoFailover)
        {
            return $"{id} is nofailover";
        }

        return report.Position is null ? $"{id} reports no WAL position" : null;
    }

    /// <summary>The old primary's timeline: from its own last report, else the highest a standby of this system reports.</summary>
    public static int? PrimaryTimeline(SentinelInput input, string oldPrimary)
    {
        if (input.Reports.Latest(oldPrimary) is { Role: PgRole.Primary, Timeline: > 0 } report)
        {
            return report.Timeline;
        }

        var systemId = input.State.Bootstrap?.SystemIdentifier;
        var timelines = input.State.Members.Keys
            .Where(id => id != oldPrimary)
            .Select(input.Fresh)
            .Where(r => r is { IsHealthyStandby: true, Timeline: > 0 } && r.SystemIdentifier == systemId)
            .Select(r => r!.Timeline)
            .ToList();
        return timelines.Count == 0 ? null : timelines.Max();
    }

    /// <summary>"node2 at 0/5000060, node3 at 0/5000000": every fresh standby's position, most advanced first.</summary>
    public static string Positions(SentinelInput input, string exceptNode)
    {
        var entries = input.State.Members.Keys
            .Where(id => id != exceptNode)
            .Select(input.Fresh)
            .Where(r => r is { Position: not null })
            .Select(r => (r!.NodeId, Position: r.Position!.Value))
            .OrderByDescending(e => e.Position)
            .ThenBy(e => e.NodeId, StringComparer.Ordinal)
            .Select(e => $"{e.NodeId} at {e.Position}")
            .ToList();
        return entries.Count == 0 ? "no standby reports a position" : string.Join(", ", entries);
    }

    private static string Join(List<string> reasons) => reasons.Count == 0 ? "no standby" : string.Join("; ", reasons);
}

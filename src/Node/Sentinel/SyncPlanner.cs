using PgRaft.Node.Cluster;

namespace PgRaft.Node.Sentinel;

/// <summary>
/// The synchronous standby set and the order of its changes (DESIGN §8). The committed <see cref="ClusterView.Sync"/>
/// always dominates what the primary may run: a change of what the primary writes is committed together with a
/// widened bound (union of sets, smaller quorum); the bound is narrowed only after the primary's keeper reported it
/// applied the narrower <see cref="ClusterView.PrimarySync"/> at the current generation.
/// </summary>
internal static class SyncPlanner
{
    /// <summary>Standbys fit to be synchronous now: fresh, healthy, streaming from the primary, same system, not nosync or nofailover.</summary>
    public static List<string> Eligible(SentinelInput input, string primary, params IEnumerable<string> excluded)
    {
        var skip = new HashSet<string>(excluded, StringComparer.Ordinal) { primary };
        return input.State.Members.Keys
            .Where(id => !skip.Contains(id) && HealthySyncCandidate(input, id) is { } report && report.Upstream == primary)
            .ToList();
    }

    /// <summary>The member's fresh report when it may be synchronous at all: a healthy standby of this cluster, not nosync or nofailover.</summary>
    private static KeeperReport? HealthySyncCandidate(SentinelInput input, string id) =>
        input.State.Members.TryGetValue(id, out var member) && !member.Tags.NoSync && !member.Tags.NoFailover
        && input.Fresh(id) is { IsHealthyStandby: true } report && report.SystemIdentifier == input.State.Bootstrap?.SystemIdentifier
            ? report
            : null;

    /// <summary>
    /// Members the new primary already waits for that are healthy standbys but not streaming from it yet: just after a
    /// promotion they are reconnecting (a few hundred milliseconds), and dropping them only to add them back churns the
    /// view and, in <c>sync</c> mode, leaves commits unprotected meanwhile. Kept for three failTimeouts after the
    /// promotion (the leader's wall clock, as recorded in the history: a liveness grace, not a safety rule).
    /// </summary>
    private static IEnumerable<string> ReconnectingAfterPromotion(SentinelInput input, string primary)
    {
        var state = input.State;
        if (state.History.LastOrDefault() is not { } last || last.NewPrimary != primary || last.Reason == ChangeReason.Bootstrap
            || input.WallClock - last.When >= input.Spec.FailTimeout * 3)
        {
            return [];
        }

        return state.View.PrimarySync.Standbys.Where(id => id != primary && HealthySyncCandidate(input, id) is not null);
    }

    /// <summary>
    /// Members the primary already waits for that this leader has no stamped report from yet (none, or only the first,
    /// which echoes no clock reading of this leader), within failTimeout of the start of its term: a new leader starts
    /// with an empty report table, and dropping them (in <c>sync</c> mode down to async) only to add them back a few
    /// hundred milliseconds later churns the primary's synchronous_standby_names on every change of Raft leader (seen in
    /// the Jepsen-style soak: '' and back within 35 ms, then commits stalled until the standby's next status reply).
    /// A member still silent after that is dropped as any silent member is. A liveness grace, not a safety rule.
    /// </summary>
    private static IEnumerable<string> NotHeardYetThisTerm(SentinelInput input, string primary)
    {
        if (input.Now - input.TermStartedAt >= input.Spec.FailTimeout)
        {
            return [];
        }

        return input.State.View.PrimarySync.Standbys.Where(id =>
            id != primary && input.Reports.Latest(id) is not { ObservedAt: not null }
            && input.State.Members.TryGetValue(id, out var member) && !member.Tags.NoSync && !member.Tags.NoFailover);
    }

    /// <summary>What the primary should write into synchronous_standby_names now.</summary>
    public static SyncConfig Desired(SentinelInput input, string primary)
    {
        var spec = input.Spec;
        if (!spec.IsSynchronous)
        {
            return SyncConfig.Async;
        }

        var eligible = Eligible(input, primary);
        eligible.AddRange(ReconnectingAfterPromotion(input, primary).Except(eligible, StringComparer.Ordinal));
        eligible.AddRange(NotHeardYetThisTerm(input, primary).Except(eligible, StringComparer.Ordinal));
        var k = spec.SyncStandbyCount;
        if (spec.Mode == ReplicationMode.Sync || eligible.Count >= k)
        {
            return eligible.Count == 0 ? SyncConfig.Async : SyncConfig.Of(Math.Min(k, eligible.Count), eligible);
        }

        // sync-strict with too few standbys: keep the members the primary already waits for, so writes block rather than go unprotected.
        var keep = input.State.View.PrimarySync.Standbys
            .Where(id => id != primary && input.State.Members.TryGetValue(id, out var m) && !m.Tags.NoSync)
            .Concat(eligible)
            .Distinct(StringComparer.Ordinal)
            .ToList();
        return keep.Count == 0 ? SyncConfig.Async : SyncConfig.Of(Math.Min(k, keep.Count), keep);
    }

    /// <summary>
    /// What a newly promoted primary writes. The committed bound starts with quorum 0 (no failover relies on it) until
    /// the members have caught up with the promotion point, through the usual confirmation step.
    /// </summary>
    public static SyncConfig AfterPromotion(SentinelInput input, string oldPrimary, string newPrimary)
    {
        var spec = input.Spec;
        if (!spec.IsSynchronous)
        {
            return SyncConfig.Async;
        }

        var k = spec.SyncStandbyCount;
        var members = input.State.Members;
        var systemId = input.State.Bootstrap?.SystemIdentifier;

        // The others follow the old primary until the new view reaches them; they will stream from the new one.
        var remaining = members.Values
            .Where(m => m.NodeId != newPrimary && m.NodeId != oldPrimary && !m.Tags.NoSync && !m.Tags.NoFailover)
            .Where(m => input.Fresh(m.NodeId) is { IsHealthyStandby: true } r && r.SystemIdentifier == systemId)
            .Select(m => m.NodeId)
            .ToList();
        if (spec.Mode == ReplicationMode.Sync || remaining.Count >= k)
        {
            return remaining.Count == 0 ? SyncConfig.Async : SyncConfig.Of(Math.Min(k, remaining.Count), remaining);
        }

        var keep = remaining
            .Concat(input.State.View.Sync.Standbys)
            .Append(oldPrimary)
            .Where(id => id != newPrimary && members.TryGetValue(id, out var m) && !m.Tags.NoSync)
            .Distinct(StringComparer.Ordinal)
            .ToList();
        return keep.Count == 0 ? SyncConfig.Async : SyncConfig.Of(Math.Min(k, keep.Count), keep);
    }

    /// <summary>The next view change for the sync set, or a reason to wait; (null, null) when nothing is to change.</summary>
    public static (ClusterView? Next, string? Reason) Step(SentinelInput input, string primary)
    {
        var view = input.State.View;
        var desired = Desired(input, primary);
        if (!view.PrimarySync.Equals(desired))
        {
            var bound = new SyncConfig(
                view.Sync.Standbys.Union(desired.Standbys),
                Math.Min(view.Sync.Quorum, desired.Quorum));
            var next = view with { Generation = view.Generation + 1, Sync = bound, PrimarySync = desired };
            return (next, $"sync: {primary} to write {Names(desired)} instead of {Names(view.PrimarySync)}{Delta(view.PrimarySync, desired)}; committed set {bound}");
        }

        if (view.Sync.Equals(view.PrimarySync))
        {
            return (null, null);
        }

        var report = input.Reports.Latest(primary);
        if (report is not { AppliedSync: { } applied } || report.AppliedGeneration != view.Generation || !applied.Equals(view.PrimarySync))
        {
            return (null, $"sync: waiting for {primary} to report synchronous_standby_names {Names(view.PrimarySync)} applied at generation {view.Generation} before committing it");
        }

        // Commits acknowledged before the primary switched sets were waited for by the old set only: the new set may be
        // relied on once enough of its members have everything up to the switch.
        var switchedAt = report.AppliedSyncLsn ?? report.FlushLsn ?? Lsn.Zero;
        var systemId = input.State.Bootstrap?.SystemIdentifier;
        var caughtUp = view.PrimarySync.Standbys
            .Count(id => input.Reports.Latest(id) is { Role: PgRole.Standby, Position: { } position } r && r.SystemIdentifier == systemId && position >= switchedAt);
        if (caughtUp < view.PrimarySync.Quorum)
        {
            return (null, $"sync: {primary} applied {Names(view.PrimarySync)}; waiting for {view.PrimarySync.Quorum} of its members to reach {switchedAt} ({caughtUp} have) before committing it");
        }

        var confirmed = view with { Generation = view.Generation + 1, Sync = view.PrimarySync };
        return (confirmed, $"sync: committing the set {view.PrimarySync} (was {view.Sync}): {primary} applied it at generation {view.Generation} and {caughtUp} members reached {switchedAt}");
    }

    private static string Names(SyncConfig config) => config.IsAsync ? "'' (async)" : config.ToSynchronousStandbyNames();

    private static string Delta(SyncConfig from, SyncConfig to)
    {
        var added = to.Standbys.Except(from.Standbys).ToList();
        var dropped = from.Standbys.Except(to.Standbys).ToList();
        var parts = new List<string>();
        if (added.Count > 0)
        {
            parts.Add("adding " + string.Join(", ", added));
        }

        if (dropped.Count > 0)
        {
            parts.Add("dropping " + string.Join(", ", dropped));
        }

        if (from.Quorum != to.Quorum)
        {
            parts.Add($"quorum {from.Quorum} → {to.Quorum}");
        }

        return parts.Count == 0 ? string.Empty : " (" + string.Join("; ", parts) + ")";
    }
}

using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Tests.Sentinel;

/// <summary>
/// The safety rules a sentinel decision must keep, written independently of the sentinel's own code:
/// each returns a violation message, and none means the decision is safe.
/// </summary>
internal static class SafetyOracle
{
    public static List<string> Violations(SentinelInput input, SentinelDecision decision)
    {
        var violations = new List<string>();
        var state = input.State;
        var spec = state.Spec;
        var view = state.View;
        if (string.IsNullOrWhiteSpace(decision.Reason))
        {
            violations.Add("the decision carries no reason");
        }

        if (decision.Command is not { } command)
        {
            return violations;
        }

        var (_, result) = ClusterStateApplier.Apply(state, command);
        if (result.Outcome == CommandOutcome.Rejected)
        {
            violations.Add($"proposed a command the state machine rejects: {result.Message}");
        }

        if (command is not ChangeView change)
        {
            return violations;
        }

        var next = change.View;
        var oldPrimary = view.Primary;
        var newPrimary = next.Primary!;
        if (newPrimary == oldPrimary)
        {
            SyncOrder(input, next, violations);
            return violations;
        }

        if (state.Members.TryGetValue(newPrimary, out var promoted) && promoted.Tags.NoFailover)
        {
            violations.Add($"promoted {newPrimary}, which is tagged nofailover");
        }

        if (oldPrimary is null)
        {
            return violations;
        }

        var reason = change.History?.Reason;
        if (spec.Paused && reason is ChangeReason.Failover or ChangeReason.Bootstrap)
        {
            violations.Add("failed over while paused");
        }

        // No two primaries whose leases could overlap: leaseTimeout + drift after the last grant and after the term began,
        // unless the old primary itself reported PostgreSQL stopped for this switchover.
        var lastGrant = input.Leases.LastGrantTo(oldPrimary);
        var leaseFrom = lastGrant is { } g && g > input.TermStartedAt ? g : input.TermStartedAt;
        var leaseFree = leaseFrom + spec.LeaseTimeout + spec.DriftMargin;
        var oldReport = input.Reports.Latest(oldPrimary);
        var stoppedForSwitchover = state.Switchover is { } sw && sw.From == oldPrimary
            && oldReport is { PostgresRunning: false } && oldReport.StoppedForSwitchover == sw.Generation;
        if (input.Now < leaseFree && !stoppedForSwitchover)
        {
            violations.Add($"promoted {newPrimary} {(leaseFree - input.Now).TotalMilliseconds} ms before {oldPrimary}'s lease could have run out");
        }

        var newReport = input.Reports.Latest(newPrimary);
        if (newReport is null || !newReport.IsFresh(input.Now, spec.FailTimeout) || !newReport.Healthy || !newReport.PostgresRunning
            || newReport.Role != PgRole.Standby || newReport.SystemIdentifier != state.Bootstrap?.SystemIdentifier)
        {
            if (reason != ChangeReason.Bootstrap)
            {
                violations.Add($"promoted {newPrimary}, which is not a fresh healthy standby of this cluster");
            }
        }

        if (reason == ChangeReason.Switchover)
        {
            if (state.Switchover is not { Phase: SwitchoverPhase.CatchingUp, FinalLsn: { } final } || Position(newReport) < final)
            {
                violations.Add($"switched over to {newPrimary} before it caught up with the old primary's final position");
            }
        }

        if (reason == ChangeReason.Failover && spec.Mode != ReplicationMode.Async)
        {
            SyncFailover(input, newPrimary, leaseFree, violations);
        }

        if (reason == ChangeReason.Failover && spec.Mode == ReplicationMode.Async
            && oldReport is { Role: PgRole.Primary, FlushLsn: { } flush } && newReport is not null
            && flush.Value > Position(newReport).Value + (ulong)spec.MaxLagOnFailover)
        {
            violations.Add($"promoted {newPrimary}, which lags more than maxLagOnFailover");
        }

        return violations;
    }

    private static Lsn Position(KeeperReport? report) =>
        report is null ? Lsn.Zero : new Lsn(Math.Max(report.ReceiveLsn?.Value ?? 0, report.ReplayLsn?.Value ?? 0));

    /// <summary>In sync modes a failover may pick only a member of the committed set, after n - k + 1 members reported final positions, the most advanced.</summary>
    private static void SyncFailover(SentinelInput input, string newPrimary, TimeSpan leaseFree, List<string> violations)
    {
        var sync = input.State.View.Sync;
        if (sync.Quorum == 0 || sync.Standbys.IsEmpty)
        {
            violations.Add($"failed over to {newPrimary} with no confirmed synchronous standby ({sync})");
            return;
        }

        if (!sync.Standbys.Contains(newPrimary))
        {
            violations.Add($"promoted {newPrimary}, which is outside the committed sync set {sync}");
        }

        var final = sync.Standbys
            .Select(input.Reports.Latest)
            .Where(r => r is { Role: PgRole.Standby } && r.ObservedAt >= leaseFree && r.SystemIdentifier == input.State.Bootstrap?.SystemIdentifier
                && (r.ReceiveLsn is not null || r.ReplayLsn is not null))
            .ToList();
        var needed = sync.Standbys.Count - sync.Quorum + 1;
        if (final.Count < needed)
        {
            violations.Add($"promoted {newPrimary} after only {final.Count} of {needed} needed sync members reported final positions");
        }
        else if (Position(input.Reports.Latest(newPrimary)) < final.Max(Position))
        {
            violations.Add($"promoted {newPrimary}, which is behind another sync member");
        }
    }

    /// <summary>A view change that keeps the primary may narrow the committed sync set only after the primary reported it applied the narrower one.</summary>
    private static void SyncOrder(SentinelInput input, ClusterView next, List<string> violations)
    {
        var view = input.State.View;
        var dropped = view.Sync.Standbys.Except(next.Sync.Standbys).ToList();
        var raised = next.Sync.Quorum > view.Sync.Quorum;
        if (!next.Sync.Dominates(view.PrimarySync))
        {
            violations.Add($"committed sync set {next.Sync} does not cover what the primary may run ({view.PrimarySync})");
        }

        if (dropped.Count == 0 && !raised)
        {
            return;
        }

        var report = input.Reports.Latest(view.Primary!);
        if (report is not { AppliedSync: { } applied } || report.AppliedGeneration != view.Generation || !next.Sync.Dominates(applied))
        {
            violations.Add($"dropped {string.Join(",", dropped)} (or raised the quorum) from the committed sync set before the primary reported it applied the smaller synchronous_standby_names");
            return;
        }

        // ... and only once enough of the new set hold everything acknowledged before the primary switched sets.
        var switchedAt = report.AppliedSyncLsn ?? report.FlushLsn ?? Lsn.Zero;
        var holders = next.Sync.Standbys.Count(id => input.Reports.Latest(id) is { Role: PgRole.Standby } r
            && r.SystemIdentifier == input.State.Bootstrap?.SystemIdentifier && Position(r) >= switchedAt);
        if (holders < next.Sync.Quorum)
        {
            violations.Add($"narrowed the committed sync set to {next.Sync} while only {holders} of its members had reached {switchedAt}");
        }
    }
}

using PgRaft.Node.Cluster;

namespace PgRaft.Node.Sentinel;

/// <summary>
/// The sentinel (DESIGN §6–8): a pure function the Raft leader runs every tick. It proposes at most one command
/// and always says why, in words an operator can act on.
/// </summary>
internal static class SentinelRules
{
    public static SentinelDecision Decide(SentinelInput input)
    {
        var state = input.State;
        var primary = state.View.Primary;
        if (primary is null)
        {
            return Bootstrap(input, failedPrimary: null, failure: null);
        }

        var failure = PrimaryFailure(input, primary);
        if (state.Bootstrap is null)
        {
            return AwaitBootstrap(input, primary, failure);
        }

        if (NodeOperations.Step(input) is { } operationStep)
        {
            return operationStep;
        }

        if (state.Failover is { } manual)
        {
            return ManualFailover(input, primary, manual);
        }

        if (failure is not null)
        {
            return Failover(input, primary, failure);
        }

        if (state.Switchover is not null)
        {
            return Switchover(input, primary, state.Switchover);
        }

        return Converge(input, primary);
    }

    /// <summary>Why the primary counts as failed (missing or unhealthy reports for failTimeout), or null while it does not.</summary>
    public static string? PrimaryFailure(SentinelInput input, string primary)
    {
        var latest = input.Reports.Latest(primary);
        var lastAlive = input.Reports.LastHealthyAt(primary);
        if (latest is { ObservedAt: { } stoppedAt } && (IsStoppedForSwitchover(input.State, latest) || NodeOperations.IsRestarting(input.State, latest))
            && (lastAlive is null || stoppedAt > lastAlive))
        {
            // A primary stopped on purpose (for a switchover, or restarting at an operator's request) is not failed while it keeps reporting.
            lastAlive = stoppedAt;
        }

        // A new leader has no reports yet: give the primary failTimeout from the start of the term. A node just named
        // (to bootstrap, above all, where it was never healthy before) gets failTimeout from its naming too; else a
        // replacement chosen long into the term would count as failed at once and be replaced in turn.
        var since = lastAlive is { } alive && alive > input.TermStartedAt ? alive : input.TermStartedAt;
        if (input.Leases.NamedSince(primary) is { } named && named > since)
        {
            since = named;
        }

        var quiet = input.Now - since;
        if (quiet < input.Spec.FailTimeout)
        {
            return null;
        }

        if (latest is null || !input.IsFresh(latest))
        {
            return $"primary {primary} silent for {Describe.Seconds(quiet)}";
        }

        var what = latest.Error ?? (latest.PostgresRunning ? $"reports role {latest.Role}" : "PostgreSQL not running");
        return $"primary {primary} unhealthy for {Describe.Seconds(quiet)} ({what})";
    }

    /// <summary>
    /// Why a failover of <paramref name="primary"/> is due (it counts as failed, failover is not paused, and another
    /// node could take over once the lease has run out), or null. The leader stops granting the primary leases then.
    /// </summary>
    public static string? FailoverDue(SentinelInput input, string primary)
    {
        if (input.Spec.Paused || input.State.Bootstrap is null || input.State.View.Primary != primary
            || PrimaryFailure(input, primary) is not { } failure)
        {
            return null;
        }

        return CandidateSelector.ForFailover(input, primary, TimeSpan.MinValue).Chosen is { } candidate
            ? $"{failure}; {candidate.NodeId} can take over"
            : null;
    }

    /// <summary>Only a stamped report counts: one without a stamp may be an overtaken report of an earlier stop.</summary>
    private static bool IsStoppedForSwitchover(ClusterState state, KeeperReport report) =>
        report.ObservedAt is not null
        && state.Switchover is { } switchover
        && switchover.From == report.NodeId
        && report.StoppedForSwitchover == switchover.Generation
        && !report.PostgresRunning;

    private static SentinelDecision Bootstrap(SentinelInput input, string? failedPrimary, string? failure)
    {
        var state = input.State;
        if (state.Members.IsEmpty)
        {
            return SentinelDecision.Wait("bootstrap: the cluster has no members yet", SentinelStatus.Bootstrapping);
        }

        var reporting = state.Members.Values
            .Where(m => m.NodeId != failedPrimary && input.Fresh(m.NodeId) is not null)
            .ToList();
        var allReported = state.Members.Keys.All(id => id == failedPrimary || input.Fresh(id) is not null);
        if (!allReported && input.Now - input.TermStartedAt < input.Spec.FailTimeout)
        {
            return SentinelDecision.Wait($"bootstrap: waiting for every member to report ({reporting.Count} of {state.Members.Count} so far)", SentinelStatus.Bootstrapping);
        }

        var chosen = reporting
            .Where(m => !m.Tags.NoFailover)
            .OrderByDescending(m => m.Tags.Priority)
            .ThenBy(m => m.NodeId, StringComparer.Ordinal)
            .FirstOrDefault();
        if (chosen is null)
        {
            return SentinelDecision.Wait("bootstrap: no reporting member may become primary (all silent or nofailover)", SentinelStatus.NoCandidate);
        }

        var view = state.View;
        var next = new ClusterView(view.Generation + 1, chosen.NodeId, SyncConfig.Async, SyncConfig.Async, UpstreamPlanner.Desired(state, chosen.NodeId));
        var history = new HistoryEntry(next.Generation, view.Primary, chosen.NodeId, ChangeReason.Bootstrap, 1, Lsn.Zero, input.WallClock);
        var reason = failure is null
            ? $"bootstrap: {chosen.NodeId} initialises the cluster (priority {chosen.Tags.Priority}; {reporting.Count} of {state.Members.Count} members reporting)"
            : $"bootstrap: {chosen.NodeId} initialises the cluster instead: {failure} before it recorded a system identifier";
        return SentinelDecision.Propose(new ChangeView(view.Generation, next, history), reason, SentinelStatus.Bootstrapping);
    }

    private static SentinelDecision AwaitBootstrap(SentinelInput input, string primary, string? failure)
    {
        if (input.Fresh(primary) is { IsHealthyPrimary: true, SystemIdentifier: { } systemId and not 0 })
        {
            return SentinelDecision.Propose(
                new RecordBootstrap(primary, systemId),
                $"bootstrap: {primary} initialised PostgreSQL with system identifier {systemId}",
                SentinelStatus.Bootstrapping);
        }

        if (failure is null)
        {
            return SentinelDecision.Wait($"bootstrap: waiting for {primary} to initialise and start PostgreSQL", SentinelStatus.Bootstrapping);
        }

        if (input.Spec.Paused)
        {
            return SentinelDecision.Wait($"paused: not choosing another node to bootstrap although {failure}", SentinelStatus.Paused);
        }

        var leaseFree = input.Leases.ExpiredAt(primary, input.Spec.LeaseTimeout, input.Spec.DriftMargin);
        if (input.Now < leaseFree)
        {
            return SentinelDecision.Wait($"{failure}; waiting {Describe.Seconds(leaseFree - input.Now)} for any lease it holds to run out", SentinelStatus.WaitingForLease);
        }

        return Bootstrap(input, primary, failure);
    }

    private static SentinelDecision Failover(SentinelInput input, string oldPrimary, string failure)
    {
        var spec = input.Spec;
        if (spec.Paused)
        {
            return SentinelDecision.Wait($"paused: not failing over although {failure}", SentinelStatus.Paused);
        }

        // DESIGN §7 rule 4: leaseTimeout + drift after our last grant and after our term began.
        var leaseFree = input.Leases.ExpiredAt(oldPrimary, spec.LeaseTimeout, spec.DriftMargin);
        if (input.Now < leaseFree)
        {
            return SentinelDecision.Wait(
                $"{failure}; waiting {Describe.Seconds(leaseFree - input.Now)} until no lease it may hold can be valid",
                SentinelStatus.WaitingForLease);
        }

        var choice = CandidateSelector.ForFailover(input, oldPrimary, leaseFree);
        if (choice.Chosen is not { } chosen)
        {
            if (input.State.Switchover is not null)
            {
                // The old primary's keeper keeps PostgreSQL stopped while a switchover from it is pending: cancel it, or
                // a primary that failed before it could stop for the switchover would never be restarted in place.
                var why = $"{failure} and no standby can take over ({choice.Explanation})";
                return SentinelDecision.Propose(new CancelSwitchover(why), $"switchover: cancelling, {why}; the primary may restart in place", SentinelStatus.Switchover);
            }

            return SentinelDecision.Wait($"not failing over: {failure}; {choice.Explanation}", SentinelStatus.NoCandidate);
        }

        var timeline = CandidateSelector.PrimaryTimeline(input, oldPrimary) ?? chosen.Timeline;
        var command = Promote(input, oldPrimary, chosen.NodeId, ChangeReason.Failover, timeline, chosen.Position);
        return SentinelDecision.Propose(command, $"promoting {chosen.NodeId}: {failure}; {choice.Explanation}", SentinelStatus.FailingOver);
    }

    /// <summary>
    /// <c>pgraft failover</c>: the primary counts as failed at once (paused or not), so no more leases; once its last one
    /// ran out, the operator's target (or the best standby) is promoted by the rules of an automatic failover.
    /// </summary>
    private static SentinelDecision ManualFailover(SentinelInput input, string primary, PendingFailover failover)
    {
        var target = failover.To ?? "the best standby";
        if (failover.Generation != input.State.View.Generation || failover.From != primary)
        {
            return SentinelDecision.Propose(new CancelFailover("the view changed since it was requested"), $"manual failover to {target}: cancelling, the view changed", SentinelStatus.FailingOver);
        }

        if (input.WallClock - failover.RequestedAt >= input.Spec.SwitchoverTimeout)
        {
            var why = $"not completed within switchoverTimeout {Describe.Seconds(input.Spec.SwitchoverTimeout)}";
            return SentinelDecision.Propose(new CancelFailover(why), $"manual failover to {target}: cancelling, {why}", SentinelStatus.FailingOver);
        }

        if (CandidateSelector.NobodyCouldTakeOver(input, primary, failover.To) is { } nobody)
        {
            // Cancelled at once, so a healthy primary gets its next lease and never fences for a request that cannot succeed.
            var why = $"no standby can take over ({nobody})";
            return SentinelDecision.Propose(new CancelFailover(why), $"manual failover to {target}: cancelling, {why}", SentinelStatus.NoCandidate);
        }

        var leaseFree = input.Leases.ExpiredAt(primary, input.Spec.LeaseTimeout, input.Spec.DriftMargin);
        if (input.Now < leaseFree)
        {
            return SentinelDecision.Wait(
                $"manual failover from {primary} to {target}: no more leases for {primary}; waiting {Describe.Seconds(leaseFree - input.Now)} until its last one ran out",
                SentinelStatus.WaitingForLease);
        }

        var choice = CandidateSelector.ForFailover(input, primary, leaseFree, failover.To);
        if (choice.Chosen is not { } chosen)
        {
            return SentinelDecision.Wait($"manual failover from {primary} to {target}: {choice.Explanation}", SentinelStatus.NoCandidate);
        }

        var timeline = CandidateSelector.PrimaryTimeline(input, primary) ?? chosen.Timeline;
        var command = Promote(input, primary, chosen.NodeId, ChangeReason.ManualFailover, timeline, chosen.Position);
        return SentinelDecision.Propose(command, $"promoting {chosen.NodeId}: manual failover requested from {primary}; {choice.Explanation}", SentinelStatus.FailingOver);
    }

    private static ChangeView Promote(SentinelInput input, string oldPrimary, string newPrimary, ChangeReason reason, int timeline, Lsn lsn)
    {
        var state = input.State;
        var view = state.View;
        var written = SyncPlanner.AfterPromotion(input, oldPrimary, newPrimary);
        var bound = written with { Quorum = 0 };
        var next = new ClusterView(view.Generation + 1, newPrimary, bound, written, UpstreamPlanner.Desired(state, newPrimary));
        var history = new HistoryEntry(next.Generation, oldPrimary, newPrimary, reason, timeline, lsn, input.WallClock);
        return new ChangeView(view.Generation, next, history);
    }

    private static SentinelDecision Switchover(SentinelInput input, string primary, PendingSwitchover switchover)
    {
        var state = input.State;
        if (switchover.Generation != state.View.Generation || switchover.From != primary)
        {
            return SentinelDecision.Propose(new CancelSwitchover("the view changed since it was requested"), "switchover: cancelling, the view changed since it was requested", SentinelStatus.Switchover);
        }

        var target = switchover.To ?? "the best standby";
        if (input.WallClock - switchover.RequestedAt >= input.Spec.SwitchoverTimeout)
        {
            var why = $"not completed within switchoverTimeout {Describe.Seconds(input.Spec.SwitchoverTimeout)}";
            return SentinelDecision.Propose(new CancelSwitchover(why), $"switchover to {target}: cancelling, {why}", SentinelStatus.Switchover);
        }

        if (switchover.To is { } to && input.Fresh(to) is not { IsHealthyStandby: true })
        {
            var why = $"target {to} is not a healthy running standby";
            return SentinelDecision.Propose(new CancelSwitchover(why), $"switchover to {to}: cancelling, {why}", SentinelStatus.Switchover);
        }

        var latest = input.Reports.Latest(primary);
        if (switchover.Phase == SwitchoverPhase.Draining)
        {
            // Position, not FlushLsn: a primary that had not finished promoting when it stopped reports as a standby.
            if (latest is { Position: { } final } && IsStoppedForSwitchover(state, latest))
            {
                return SentinelDecision.Propose(
                    new SwitchoverStopped(switchover.Generation, final, latest.Timeline, input.WallClock),
                    $"switchover to {target}: {primary} stopped writing at {final} on timeline {latest.Timeline}",
                    SentinelStatus.Switchover);
            }

            return SentinelDecision.Wait($"switchover to {target}: waiting for {primary} to stop PostgreSQL and report its final position", SentinelStatus.Switchover);
        }

        var finalLsn = switchover.FinalLsn ?? Lsn.Zero;
        var systemId = state.Bootstrap?.SystemIdentifier;
        var standbys = state.Members.Values
            .Where(m => m.NodeId != primary && !m.Tags.NoFailover && (switchover.To is null || m.NodeId == switchover.To))
            .Select(m => (Member: m, Report: input.Fresh(m.NodeId)))
            .Where(x => x.Report is { IsHealthyStandby: true, Position: not null } r
                && r.SystemIdentifier == systemId
                && (switchover.Timeline is null || r.Timeline == switchover.Timeline))
            .Select(x => new Candidate(x.Member.NodeId, x.Report!.Position!.Value, x.Member.Tags.Priority, x.Report.Timeline))
            .ToList();
        if (standbys.Count == 0)
        {
            const string why = "no healthy standby on the primary's timeline can take over";
            return SentinelDecision.Propose(new CancelSwitchover(why), $"switchover: cancelling, {why}", SentinelStatus.Switchover);
        }

        var caughtUp = CandidateSelector.Rank(standbys.Where(c => c.Position >= finalLsn)).FirstOrDefault();
        if (caughtUp is null && switchover.StoppedAt is { } stoppedAt && input.WallClock - stoppedAt >= input.Spec.FailTimeout)
        {
            // Standbys that were streaming get the rest of the WAL as the old primary shuts down; one that has not by now will not.
            var why = $"no standby reached {finalLsn} within failTimeout {Describe.Seconds(input.Spec.FailTimeout)} of the stop";
            return SentinelDecision.Propose(new CancelSwitchover(why), $"switchover to {target}: cancelling, {why}", SentinelStatus.Switchover);
        }

        if (caughtUp is null)
        {
            var positions = string.Join(", ", CandidateSelector.Rank(standbys).Select(c => $"{c.NodeId} at {c.Position}"));
            return SentinelDecision.Wait($"switchover to {target}: waiting for a standby to reach {finalLsn} ({positions})", SentinelStatus.Switchover);
        }

        // The old primary must still be stopped: only then is skipping the lease wait safe.
        if (latest is null || !IsStoppedForSwitchover(state, latest))
        {
            var leaseFree = input.Leases.ExpiredAt(primary, input.Spec.LeaseTimeout, input.Spec.DriftMargin);
            if (input.Now < leaseFree)
            {
                return SentinelDecision.Wait(
                    $"switchover to {caughtUp.NodeId}: {primary} no longer reports itself stopped; waiting {Describe.Seconds(leaseFree - input.Now)} for its lease to run out",
                    SentinelStatus.WaitingForLease);
            }
        }

        // The history records where the new primary's timeline forks, as for a failover: the new primary's position
        // (at or past finalLsn, the start of the old primary's shutdown checkpoint). Keepers compare standbys with it.
        var command = Promote(input, primary, caughtUp.NodeId, ChangeReason.Switchover, switchover.Timeline ?? caughtUp.Timeline, caughtUp.Position);
        return SentinelDecision.Propose(
            command,
            $"switchover: promoting {caughtUp.NodeId} at {caughtUp.Position}: {primary} stopped at {finalLsn}",
            SentinelStatus.Switchover);
    }

    private static SentinelDecision Converge(SentinelInput input, string primary)
    {
        var view = input.State.View;
        if (input.Fresh(primary) is not { IsHealthyPrimary: true })
        {
            var quiet = input.Now - (input.Reports.LastHealthyAt(primary) is { } at && at > input.TermStartedAt ? at : input.TermStartedAt);
            return SentinelDecision.Wait(
                $"primary {primary} not reporting healthy for {Describe.Seconds(quiet)}; failover after failTimeout {Describe.Seconds(input.Spec.FailTimeout)}",
                SentinelStatus.PrimaryUnhealthy);
        }

        if (BranchToRecord(input, primary) is { } record)
        {
            return SentinelDecision.Propose(record, $"{primary} runs {record.Branch} since generation {record.Generation}", SentinelStatus.Converging);
        }

        var (syncStep, syncReason) = SyncPlanner.Step(input, primary);
        if (syncStep is not null)
        {
            return SentinelDecision.Propose(new ChangeView(view.Generation, syncStep, null), syncReason!, SentinelStatus.Converging);
        }

        if (syncReason is not null)
        {
            return SentinelDecision.Wait(syncReason, SentinelStatus.Converging);
        }

        var upstreams = UpstreamPlanner.Desired(input.State, primary);
        if (!CollectionEquality.DictionaryEquals(upstreams, view.Upstreams))
        {
            var next = view with { Generation = view.Generation + 1, Upstreams = upstreams };
            var text = string.Join(", ", upstreams.Select(u => $"{u.Key} ← {u.Value}"));
            return SentinelDecision.Propose(new ChangeView(view.Generation, next, null), $"upstreams: {text}", SentinelStatus.Converging);
        }

        return SentinelDecision.Wait($"healthy: primary {primary}, sync {view.Sync}", SentinelStatus.Healthy);
    }

    /// <summary>
    /// The timeline branch the primary reports, to record in its history entry, once it has applied the view naming it
    /// and while the entry has none: keepers compare standbys' branches with it (<see cref="Keeper.KeeperPlanner.Divergence"/>).
    /// </summary>
    private static RecordTimelineBranch? BranchToRecord(SentinelInput input, string primary)
    {
        var history = input.State.History;
        return history.Count > 0 && history[^1] is { Branch: null } last && last.NewPrimary == primary
            && input.Fresh(primary) is { IsHealthyPrimary: true, Timeline: > 1, TimelineFork: { } fork } report
            && report.AppliedGeneration >= last.Generation
                ? new RecordTimelineBranch(last.Generation, primary, new TimelineBranch(report.Timeline, fork))
                : null;
    }
}

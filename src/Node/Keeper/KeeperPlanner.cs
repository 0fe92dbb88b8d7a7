using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Keeper;

/// <summary>What a keeper knows when it plans: the committed state it applied, its PostgreSQL, and its lease.</summary>
/// <param name="NodeId">This node.</param>
/// <param name="State">The cluster state as applied locally (it may lag the leader's; the lease covers that).</param>
/// <param name="Local">This node's PostgreSQL.</param>
/// <param name="HoldsLease">True while this node holds a primary lease that has not reached its fence time.</param>
/// <param name="NotStreamingFor">
/// How long (keeper clock) this running standby has followed the view's primary, seen healthy by the leader and reachable
/// from here, without its WAL receiver streaming (<see cref="StreamingWatch"/>); zero while it streams.
/// </param>
/// <param name="CompletedOperationId">The last operator operation (restart, reinit) this keeper carried out or gave up.</param>
/// <param name="ParameterRestartTurn">
/// Null when this standby may restart now to apply changed parameters; otherwise why it waits (another standby is down, or
/// restarts first): standbys restarting all at once would leave the primary without a synchronous standby.
/// </param>
internal sealed record KeeperSituation(
    string NodeId, ClusterState State, LocalPostgres Local, bool HoldsLease, TimeSpan NotStreamingFor = default, long CompletedOperationId = 0, string? ParameterRestartTurn = null)
{
    /// <summary>The operator's restart or reinit for this node that the keeper has yet to carry out.</summary>
    public NodeOperation? PendingOperation =>
        State.PendingOperations.TryGetValue(NodeId, out var operation) && operation.Id > CompletedOperationId ? operation : null;
}

/// <summary>
/// The keeper's reconcile rules (DESIGN §5, §7): a pure function from a <see cref="KeeperSituation"/> to the one next
/// <see cref="KeeperAction"/>. Real keepers and the control-plane simulation run the same rules.
/// </summary>
internal static class KeeperPlanner
{
    /// <summary>
    /// A standby that follows a healthy primary yet has not streamed for this many failTimeouts is stuck (its WAL cannot
    /// continue the primary's, whatever the reason): it is re-cloned. Catch-up streams, and a restart of either side or a
    /// primary change resets the count, so only a standby that keeps failing to stream gets here. Not pg_rewind: the
    /// stuck standbys found were on a timeline with the primary's number and fork point but other WAL (two nodes that
    /// promoted at the same position), where pg_rewind sees nothing to do.
    /// </summary>
    public const int StallFailTimeouts = 5;

    public static TimeSpan StallLimit(ClusterSpec spec) => spec.FailTimeout * StallFailTimeouts;

    public static KeeperAction Plan(KeeperSituation situation)
    {
        var (me, state, local) = (situation.NodeId, situation.State, situation.Local);
        var view = state.View;
        if (view.Primary is null)
        {
            return local is { Running: true, Role: PgRole.Primary }
                ? new FenceAction("the view names no primary, yet this node's PostgreSQL runs as one")
                : new WaitAction("waiting for the sentinel to name a primary");
        }

        if (local.Initialized && state.Bootstrap is { } bootstrap && local.SystemIdentifier is { } systemId && systemId != bootstrap.SystemIdentifier)
        {
            return local.Running
                ? new FenceAction($"this data directory belongs to another cluster (system identifier {systemId}, the cluster's is {bootstrap.SystemIdentifier})")
                : new CloneAction(view.UpstreamOf(me) ?? view.Primary, $"this data directory belongs to another cluster (system identifier {systemId}, the cluster's is {bootstrap.SystemIdentifier}): re-cloning, the old directory is kept aside");
        }

        if (situation.PendingOperation is { } operation)
        {
            if (operation.Kind == NodeOperationKind.Restart && !local.Running)
            {
                return new EndOperationAction(operation.Id, true, "PostgreSQL was not running, so there was nothing to restart; the keeper starts it as the view requires");
            }

            if (operation.Kind == NodeOperationKind.Reinit && view.Primary == me)
            {
                return new EndOperationAction(operation.Id, false, "this node is the primary now; reinit re-clones a standby only");
            }
        }

        return view.Primary == me ? PlanPrimary(situation) : PlanStandby(situation, view.UpstreamOf(me)!);
    }

    private static string Asked(NodeOperation operation) => $"the operator asked for a {operation.Kind.ToString().ToLowerInvariant()} (operation {operation.Id})";

    private static KeeperAction PlanPrimary(KeeperSituation situation)
    {
        var (state, local) = (situation.State, situation.Local);
        var view = state.View;
        if (!local.Initialized)
        {
            return state.Bootstrap is null
                ? (situation.HoldsLease
                    ? new InitializeAction("bootstrap: this node was chosen to initialise the cluster")
                    : new WaitAction("bootstrap: waiting for a primary lease before initialising"))
                : new WaitAction("named primary but this node has no data directory; the sentinel will fail over");
        }

        if (state.Switchover is { } switchover && switchover.From == situation.NodeId && switchover.Generation == view.Generation)
        {
            return local.Running
                ? new StopForSwitchoverAction(view.Generation, $"switchover to {switchover.To ?? "the best standby"}: stopping cleanly so the target can catch up")
                : new WaitAction($"switchover to {switchover.To ?? "the best standby"}: stopped, waiting for the new view");
        }

        if (!situation.HoldsLease)
        {
            return local.Running && local.Role == PgRole.Primary
                ? new FenceAction($"no valid primary lease for generation {view.Generation}")
                : new WaitAction($"named primary at generation {view.Generation}; waiting for a lease");
        }

        if (!local.Running)
        {
            return local.Role == PgRole.Standby
                ? new StartStandbyAction(null, "named primary: starting the standby data directory so it can be promoted")
                : new StartPrimaryAction($"named primary at generation {view.Generation} and holding the lease");
        }

        if (local.Role == PgRole.Standby)
        {
            return new PromoteAction($"named primary at generation {view.Generation} and holding the lease");
        }

        var wanted = view.PrimarySync.ToSynchronousStandbyNames();
        if (local.SynchronousStandbyNames != wanted)
        {
            return new ApplySyncAction(view.PrimarySync, $"synchronous_standby_names must be '{wanted}' (is '{local.SynchronousStandbyNames}')");
        }

        if (situation.PendingOperation is { Kind: NodeOperationKind.Restart } restart)
        {
            return new RestartAction(restart.Id, $"{Asked(restart)}: restarting the primary in place; its clients reconnect");
        }

        // Restarting the primary would be a write outage nobody asked for; a switchover applies them without one.
        return local.PendingRestart.Length > 0
            ? new WaitAction($"primary, converged; {local.PendingRestart} take effect at its next start: run a switchover to apply them without an outage")
            : new WaitAction("primary, converged");
    }

    /// <summary>
    /// Why this standby's WAL may have forked from the current history, or null when it cannot have.
    /// <para>
    /// A standby on timeline t whose branch (t and its fork point) differs from the branch the history records for t
    /// is on a same-numbered timeline of its own (it promoted, and another node promoted from the same parent before its
    /// promotion was seen): its WAL after its fork is not the primary's, and PostgreSQL cannot stream across that.
    /// </para>
    /// <para>
    /// A standby still on timeline t with WAL beyond the position at which the history says t's primary was replaced
    /// (the new primary's reported position, at or below where it forked) may hold records the new timeline lacks: PostgreSQL
    /// cannot stream past such a fork, so it must be rewound. A standby at or below that position is a prefix of the new timeline.
    /// </para>
    /// </summary>
    internal static string? Divergence(ClusterState state, LocalPostgres local)
    {
        if (local.Timeline <= 0)
        {
            return null;
        }

        if (local.TimelineFork is { } fork
            && state.History.LastOrDefault(h => h.Branch?.Timeline == local.Timeline) is { Branch: { } branch } recorded
            && branch.ForkLsn != fork)
        {
            return $"this standby is on a timeline {local.Timeline} of its own, forked at {fork}, not the cluster's ({branch}, {recorded.NewPrimary}'s since generation {recorded.Generation})";
        }

        if (local.Position is not { } position)
        {
            return null;
        }

        var left = state.History.LastOrDefault(h => h.Reason != ChangeReason.Bootstrap && h.Timeline == local.Timeline);
        return left is not null && position > left.Lsn
            ? $"this standby is at {position} on timeline {local.Timeline}, past {left.Lsn} where {left.NewPrimary} took over from it at generation {left.Generation}, so its WAL may have forked"
            : null;
    }

    /// <summary>
    /// True when this running standby follows the view's primary directly, as it should, and its WAL receiver is not
    /// streaming: the time this holds while the leader sees that primary healthy is what <see cref="StallLimit"/> bounds.
    /// </summary>
    internal static bool FollowsPrimaryWithoutStreaming(string nodeId, ClusterState state, LocalPostgres local) =>
        state.View.Primary is { } primary && primary != nodeId && state.View.UpstreamOf(nodeId) == primary
        && local is { Initialized: true, Running: true, Role: PgRole.Standby, Streaming: false } && local.Upstream == primary;

    private static KeeperAction PlanStandby(KeeperSituation situation, string upstream)
    {
        var (state, local) = (situation.State, situation.Local);
        var primary = state.View.Primary!;
        if (!local.Initialized)
        {
            return state.Bootstrap is null
                ? new WaitAction($"bootstrap: waiting for {primary} to initialise the cluster")
                : new CloneAction(upstream, $"no data directory: cloning from {upstream}");
        }

        if (local.Running && local.Role == PgRole.Primary)
        {
            return new FenceAction($"{primary} is primary now (generation {state.View.Generation}); this node must stop taking writes");
        }

        if (situation.PendingOperation is { Kind: NodeOperationKind.Reinit } reinit)
        {
            return new CloneAction(upstream, $"{Asked(reinit)}: re-cloning from {upstream}, the old data directory is kept aside", reinit.Id);
        }

        var divergence = Divergence(state, local);
        if (!local.Running)
        {
            return local.Role == PgRole.Primary
                ? new RewindAction(primary, $"this node was a primary; {primary} is primary now: rewinding (or re-cloning) to follow it")
                : divergence is not null
                    ? new RewindAction(primary, $"{divergence}: rewinding (or re-cloning) to follow {primary}")
                    : new StartStandbyAction(upstream, $"starting as a standby of {upstream}");
        }

        if (divergence is not null)
        {
            return new FenceAction($"{divergence}: stopping this standby so it can be rewound");
        }

        if (local.Upstream != upstream)
        {
            return new FollowAction(upstream, $"streaming from {local.Upstream ?? "nobody"}, should follow {upstream}");
        }

        var limit = StallLimit(state.Spec);
        if (situation.NotStreamingFor >= limit && FollowsPrimaryWithoutStreaming(situation.NodeId, state, local))
        {
            return new CloneAction(primary, $"this standby follows {primary}, a healthy primary, yet has not streamed from it for {Describe.Seconds(situation.NotStreamingFor)} ({StallFailTimeouts} × failTimeout): its WAL cannot continue {primary}'s; stopping it to re-clone, the old directory is kept aside");
        }

        if (situation.PendingOperation is { Kind: NodeOperationKind.Restart } restart)
        {
            return new RestartAction(restart.Id, $"{Asked(restart)}: restarting this standby");
        }

        if (local.PendingRestart.Length == 0)
        {
            return new WaitAction($"standby of {upstream}, converged");
        }

        return situation.ParameterRestartTurn is { } wait
            ? new WaitAction($"standby of {upstream}; {local.PendingRestart} take effect at a restart, which waits: {wait}")
            : new RestartAction(null, $"{local.PendingRestart} changed and take effect only at a restart");
    }
}

using System.Collections.Immutable;
using PgRaft.PgControl.Instance;

namespace PgRaft.Node.Cluster;

/// <summary>The pure transition function: state × command → state, result. Invalid commands leave the state unchanged.</summary>
internal static class ClusterStateApplier
{
    public static (ClusterState State, CommandResult Result) Apply(ClusterState state, ClusterCommand command) =>
        command switch
        {
            SetSpec c => ApplySpec(state, c.Spec, "spec replaced"),
            PatchSpec c => c.Patch is null ? Reject(state, "patchSpec carries no patch") : ApplySpec(state, c.Patch.ApplyTo(state.Spec), "spec patched"),
            AddMember c => AddMember(state, c.Member),
            UpdateMember c => UpdateMember(state, c.Member),
            RemoveMember c => RemoveMember(state, c.NodeId),
            ChangeView c => ChangeView(state, c),
            RecordBootstrap c => RecordBootstrap(state, c),
            RecordPostBootstrapScriptDone c => RecordPostBootstrapScriptDone(state, c),
            Pause => (state with { Spec = state.Spec with { Paused = true } }, CommandResult.Applied("paused: no automatic failover")),
            Resume => (state with { Spec = state.Spec with { Paused = false } }, CommandResult.Applied("resumed: automatic failover enabled")),
            RequestSwitchover c => RequestSwitchover(state, c),
            SwitchoverStopped c => SwitchoverStopped(state, c),
            RecordTimelineBranch c => RecordTimelineBranch(state, c),
            CancelSwitchover c => state.Switchover is not { } switchover
                ? Reject(state, "no switchover is pending")
                : Cancelled(state with { Switchover = null }, "switchover", $"switchover from {switchover.From} to {switchover.To ?? "the best standby"} cancelled: {c.Reason}"),
            RequestFailover c => RequestFailover(state, c),
            CancelFailover c => state.Failover is not { } failover
                ? Reject(state, "no failover is pending")
                : Cancelled(state with { Failover = null }, "failover", $"failover from {failover.From} to {failover.To ?? "the best standby"} cancelled: {c.Reason}"),
            RequestNodeOperation c => RequestNodeOperation(state, c),
            CompleteNodeOperation c => CompleteNodeOperation(state, c),
            _ => Reject(state, $"unknown command {command.GetType().Name}"),
        };

    private static (ClusterState, CommandResult) Reject(ClusterState state, string reason) => (state, CommandResult.Rejected(reason));

    private static (ClusterState, CommandResult) Cancelled(ClusterState state, string operation, string message) =>
        (state.WithNotice(operation, false, message), CommandResult.Applied(message));

    private static (ClusterState, CommandResult) ApplySpec(ClusterState state, ClusterSpec? spec, string message)
    {
        if (spec is null)
        {
            return Reject(state, "the command carries no spec");
        }

        var errors = spec.Validate().ToList();
        if (state.Bootstrap is not null && (spec.LeaseTimeout < state.Spec.LeaseTimeout || spec.DriftMargin < state.Spec.DriftMargin))
        {
            // The leader dates the primary's lease with the spec it has applied, while the primary's guard keeps the
            // deadline it was granted under the old timings: shortening them could start a failover while that lease runs.
            errors.Add(
                $"leaseTimeout and driftMargin can only be raised on a running cluster (they are {state.Spec.LeaseTimeout.TotalMilliseconds} ms and " +
                $"{state.Spec.DriftMargin.TotalMilliseconds} ms): a shorter lease could let a failover start while the primary still holds one granted " +
                "under the longer timing; set lower values in the bootstrap spec of a new cluster");
        }

        foreach (var member in state.Members.Keys.Where(id => spec.PermanentSlots.Contains(PostgresInstance.SlotNameFor(id))))
        {
            errors.Add($"permanent slot '{PostgresInstance.SlotNameFor(member)}' is member {member}'s own slot: give the operator's slot another name");
        }

        return errors.Count > 0
            ? Reject(state, "invalid spec: " + string.Join("; ", errors))
            : (state with { Spec = spec }, CommandResult.Applied(message));
    }

    private static (ClusterState, CommandResult) AddMember(ClusterState state, Member? member)
    {
        if (member is null)
        {
            return Reject(state, "addMember carries no member");
        }

        var errors = member.Validate();
        if (errors.Count > 0)
        {
            return Reject(state, "invalid member: " + string.Join("; ", errors));
        }

        if (state.Spec.PermanentSlots.Contains(PostgresInstance.SlotNameFor(member.NodeId)))
        {
            return Reject(state, $"member {member.NodeId} would use slot '{PostgresInstance.SlotNameFor(member.NodeId)}', a permanent slot of the spec: rename that slot first or pick another node id");
        }

        return state.Members.ContainsKey(member.NodeId)
            ? Reject(state, $"member {member.NodeId} already exists; use updateMember to change it")
            : (state with { Members = state.Members.Add(member.NodeId, member) }, CommandResult.Applied($"member {member.NodeId} added"));
    }

    private static (ClusterState, CommandResult) UpdateMember(ClusterState state, Member? member)
    {
        if (member is null)
        {
            return Reject(state, "updateMember carries no member");
        }

        var errors = member.Validate();
        if (errors.Count > 0)
        {
            return Reject(state, "invalid member: " + string.Join("; ", errors));
        }

        return !state.Members.ContainsKey(member.NodeId)
            ? Reject(state, $"member {member.NodeId} does not exist; use addMember")
            : (state with { Members = state.Members.SetItem(member.NodeId, member) }, CommandResult.Applied($"member {member.NodeId} updated"));
    }

    private static (ClusterState, CommandResult) RemoveMember(ClusterState state, string? nodeId)
    {
        if (nodeId is null || !state.Members.ContainsKey(nodeId))
        {
            return Reject(state, $"member {nodeId} does not exist");
        }

        var view = state.View;
        if (view.Primary == nodeId)
        {
            return Reject(state, $"{nodeId} is the primary; switch over to another node first");
        }

        if (view.Sync.Standbys.Contains(nodeId) || view.PrimarySync.Standbys.Contains(nodeId))
        {
            return Reject(state, $"{nodeId} is in the synchronous standby set; stop it or tag it nosync and wait until the sentinel drops it");
        }

        if (state.Switchover is { } sw && sw.To == nodeId)
        {
            return Reject(state, $"{nodeId} is the target of the pending switchover; cancel it first");
        }

        if (state.Failover is { } failover && failover.To == nodeId)
        {
            return Reject(state, $"{nodeId} is the target of the pending failover; wait until it completes or is cancelled");
        }

        return (state with { Members = state.Members.Remove(nodeId), Operations = state.PendingOperations.Remove(nodeId) }, CommandResult.Applied($"member {nodeId} removed"));
    }

    private static (ClusterState, CommandResult) ChangeView(ClusterState state, ChangeView command)
    {
        var current = state.View;
        var next = command.View;
        if (next is null)
        {
            return Reject(state, "changeView carries no view");
        }

        if (command.ExpectedGeneration != current.Generation)
        {
            return Reject(state, $"stale view change: computed from generation {command.ExpectedGeneration}, but the view is at generation {current.Generation}");
        }

        if (next.Generation != current.Generation + 1)
        {
            return Reject(state, $"a view change from generation {current.Generation} must produce generation {current.Generation + 1}, not {next.Generation}");
        }

        if (ValidateView(state, next) is { } viewError)
        {
            return Reject(state, viewError);
        }

        var primaryChanges = next.Primary != current.Primary;
        if (primaryChanges)
        {
            var history = command.History;
            if (history is null)
            {
                return Reject(state, $"a change of primary ({current.Primary ?? "none"} → {next.Primary}) must carry its history entry");
            }

            if (history.Generation != next.Generation || history.NewPrimary != next.Primary || history.OldPrimary != current.Primary)
            {
                return Reject(state, "the history entry does not match the view change (generation, old or new primary)");
            }

            var message = $"generation {next.Generation}: {history.Reason.Text()} from {current.Primary ?? "none"} to {next.Primary}";
            var changed = state with { View = next, History = state.History.Add(history), Switchover = null, Failover = null };
            if (state.Switchover is not null || state.Failover is not null)
            {
                // The operator's command waits for this notice; the change may also have come from an automatic failover.
                changed = changed.WithNotice(state.Switchover is not null ? "switchover" : "failover", true, message);
            }

            return (changed, CommandResult.Applied(message));
        }

        if (command.History is not null)
        {
            return Reject(state, "a view change that keeps the primary must not carry a history entry");
        }

        if (state.Switchover is not null)
        {
            return Reject(state, "a switchover is pending: only a change of primary may change the view until it completes or is cancelled");
        }

        // DESIGN §8: the committed set must stay a superset of anything the primary may still be running.
        if (!next.Sync.Dominates(current.PrimarySync))
        {
            return Reject(state, $"unsafe sync set change: the primary may still run {current.PrimarySync}, which {next.Sync} does not cover; drop members from the primary's set first");
        }

        return (state with { View = next }, CommandResult.Applied($"generation {next.Generation}: sync {next.Sync}, primary writes {next.PrimarySync}"));
    }

    private static string? ValidateView(ClusterState state, ClusterView view)
    {
        if (view.Primary is null)
        {
            return "a view must name a primary";
        }

        if (!state.Members.ContainsKey(view.Primary))
        {
            return $"the new primary {view.Primary} is not a member";
        }

        if (view.Sync is null || view.PrimarySync is null || view.Upstreams is null)
        {
            return "the view is incomplete (sync, primarySync and upstreams are required)";
        }

        foreach (var config in new[] { view.Sync, view.PrimarySync })
        {
            if (config.Quorum < 0 || config.Quorum > config.Standbys.Count)
            {
                return $"sync quorum {config.Quorum} is outside 0..{config.Standbys.Count}";
            }

            foreach (var standby in config.Standbys)
            {
                if (standby == view.Primary || !state.Members.ContainsKey(standby))
                {
                    return $"sync standby {standby} must be a member other than the primary";
                }
            }
        }

        if (!view.Sync.Dominates(view.PrimarySync))
        {
            return $"the committed sync set {view.Sync} must cover what the primary is told to write ({view.PrimarySync})";
        }

        foreach (var (standby, upstream) in view.Upstreams)
        {
            if (standby == view.Primary || standby == upstream || !state.Members.ContainsKey(standby) || !state.Members.ContainsKey(upstream))
            {
                return $"upstream {standby} → {upstream} must join two different members, the first not the primary";
            }
        }

        return null;
    }

    private static (ClusterState, CommandResult) RecordBootstrap(ClusterState state, RecordBootstrap command)
    {
        if (state.Bootstrap is { } existing)
        {
            return existing.NodeId == command.NodeId && existing.SystemIdentifier == command.SystemIdentifier
                ? (state, CommandResult.Ignored("bootstrap already recorded"))
                : Reject(state, $"the cluster was already bootstrapped by {existing.NodeId} (system identifier {existing.SystemIdentifier})");
        }

        if (state.View.Primary != command.NodeId)
        {
            return Reject(state, $"{command.NodeId} is not the primary named by the view ({state.View.Primary ?? "none"})");
        }

        if (command.SystemIdentifier == 0)
        {
            return Reject(state, "a system identifier of 0 is not valid");
        }

        return (state with { Bootstrap = new BootstrapRecord(command.NodeId, command.SystemIdentifier, false) },
            CommandResult.Applied($"bootstrap recorded: {command.NodeId}, system identifier {command.SystemIdentifier}"));
    }

    private static (ClusterState, CommandResult) RecordPostBootstrapScriptDone(ClusterState state, RecordPostBootstrapScriptDone command)
    {
        if (state.Bootstrap is not { } bootstrap)
        {
            return Reject(state, "the cluster is not bootstrapped yet");
        }

        return bootstrap.PostBootstrapScriptDone
            ? (state, CommandResult.Ignored("post-bootstrap script already recorded as done"))
            : (state with { Bootstrap = bootstrap with { PostBootstrapScriptDone = true } }, CommandResult.Applied($"post-bootstrap script done on {command.NodeId}"));
    }

    private static (ClusterState, CommandResult) RecordTimelineBranch(ClusterState state, RecordTimelineBranch command)
    {
        if (command.Branch is not { Timeline: > 0 } branch)
        {
            return Reject(state, "recordTimelineBranch carries no timeline branch");
        }

        if (state.History.IsEmpty || state.History[^1] is not { } last || last.Generation != command.Generation
            || last.NewPrimary != command.NodeId || state.View.Primary != command.NodeId)
        {
            return Reject(state, $"{command.NodeId} is not the primary named at generation {command.Generation} by the last change of primary");
        }

        if (last.Branch is { } recorded)
        {
            return recorded == branch
                ? (state, CommandResult.Ignored($"{recorded} already recorded for generation {last.Generation}"))
                : Reject(state, $"generation {last.Generation} already recorded {recorded}, not {branch}");
        }

        return (state with { History = state.History.SetItem(state.History.Count - 1, last with { Branch = branch }) },
            CommandResult.Applied($"generation {last.Generation}: {command.NodeId} runs {branch}"));
    }

    private static (ClusterState, CommandResult) RequestSwitchover(ClusterState state, RequestSwitchover command)
    {
        if (HandoverRefusal(state, "switchover", command.ExpectedGeneration, command.To) is { } refusal)
        {
            return Reject(state, refusal);
        }

        var view = state.View;
        var primary = view.Primary!;
        var switchover = new PendingSwitchover(primary, command.To, view.Generation, SwitchoverPhase.Draining, null, null, command.RequestedAt);
        return (state with { Switchover = switchover },
            CommandResult.Applied($"switchover requested from {view.Primary} to {command.To ?? "the best standby"}"));
    }

    private static (ClusterState, CommandResult) SwitchoverStopped(ClusterState state, SwitchoverStopped command)
    {
        if (state.Switchover is not { } pending || pending.Generation != command.Generation)
        {
            return Reject(state, $"no switchover is pending at generation {command.Generation}");
        }

        if (pending.Phase != SwitchoverPhase.Draining)
        {
            return Reject(state, $"the switchover is already in phase {pending.Phase}");
        }

        return (state with { Switchover = pending with { Phase = SwitchoverPhase.CatchingUp, FinalLsn = command.FinalLsn, Timeline = command.Timeline, StoppedAt = command.StoppedAt } },
            CommandResult.Applied($"switchover: {pending.From} stopped writing at {command.FinalLsn}"));
    }

    /// <summary>Why a switchover or failover request cannot be taken now (null when it can).</summary>
    private static string? HandoverRefusal(ClusterState state, string operation, long expectedGeneration, string? to)
    {
        var view = state.View;
        if (view.Primary is null || state.Bootstrap is null)
        {
            return "the cluster has no primary yet";
        }

        const string ends = "it completes or is cancelled within switchoverTimeout";
        if (state.Switchover is { } switchover)
        {
            return operation == "switchover" ? $"a switchover from {switchover.From} is already pending" : $"a switchover from {switchover.From} is pending; {ends}";
        }

        if (state.Failover is { } failover)
        {
            return operation == "failover"
                ? $"a failover from {failover.From} to {failover.To ?? "the best standby"} is already pending"
                : $"a failover from {failover.From} is pending; {ends}";
        }

        if (expectedGeneration != view.Generation)
        {
            return $"stale {operation} request: made at generation {expectedGeneration}, the view is at {view.Generation}";
        }

        if (to is null)
        {
            return state.Members.Values.Any(m => m.NodeId != view.Primary && !m.Tags.NoFailover)
                ? null
                : "no member could take over: every standby is tagged nofailover or there is none";
        }

        return !state.Members.TryGetValue(to, out var target) ? $"{operation} target {to} is not a member"
            : to == view.Primary ? $"{to} is already the primary"
            : target.Tags.NoFailover ? $"{to} is tagged nofailover"
            : null;
    }

    private static (ClusterState, CommandResult) RequestFailover(ClusterState state, RequestFailover command)
    {
        if (HandoverRefusal(state, "failover", command.ExpectedGeneration, command.To) is { } refusal)
        {
            return Reject(state, refusal);
        }

        var view = state.View;
        var primary = view.Primary!;
        return (state with { Failover = new PendingFailover(primary, command.To, view.Generation, command.RequestedAt) },
            CommandResult.Applied($"failover requested from {view.Primary} to {command.To ?? "the best standby"}"));
    }

    private static (ClusterState, CommandResult) RequestNodeOperation(ClusterState state, RequestNodeOperation command)
    {
        if (command.NodeId is null || !state.Members.ContainsKey(command.NodeId))
        {
            return Reject(state, $"{command.NodeId} is not a member; members: {string.Join(", ", state.Members.Keys)}");
        }

        if (!Enum.IsDefined(command.Kind))
        {
            return Reject(state, $"unknown node operation {command.Kind}");
        }

        var what = command.Kind.ToString().ToLowerInvariant();
        if (command.Kind == NodeOperationKind.Reinit)
        {
            if (state.View.Primary == command.NodeId)
            {
                return Reject(state, $"{command.NodeId} is the primary: reinit re-clones a standby; switch over to another node first");
            }

            if (state.Bootstrap is null)
            {
                return Reject(state, "the cluster is not bootstrapped yet: there is no primary to re-clone from");
            }

            if (state.Switchover?.To == command.NodeId || state.Failover?.To == command.NodeId)
            {
                return Reject(state, $"{command.NodeId} is the target of a pending switchover or failover");
            }
        }

        var id = state.LastOperationId + 1;
        var replaced = state.PendingOperations.TryGetValue(command.NodeId, out var earlier) ? $" (replaces pending {earlier.Kind.ToString().ToLowerInvariant()} {earlier.Id})" : "";
        return (state with
        {
            Operations = state.PendingOperations.SetItem(command.NodeId, new NodeOperation(id, command.Kind, command.RequestedAt)),
            LastOperationId = id,
        }, CommandResult.Applied($"{what} of {command.NodeId} requested as operation {id}{replaced}", id));
    }

    private static (ClusterState, CommandResult) CompleteNodeOperation(ClusterState state, CompleteNodeOperation command)
    {
        if (command.NodeId is null || !state.PendingOperations.TryGetValue(command.NodeId, out var pending) || pending.Id != command.Id)
        {
            return Reject(state, $"operation {command.Id} is not pending on {command.NodeId}");
        }

        var what = pending.Kind.ToString().ToLowerInvariant();
        var message = $"{what} of {command.NodeId} {(command.Succeeded ? "done" : "failed")}: {command.Message}";
        var completed = state with { Operations = state.PendingOperations.Remove(command.NodeId) };
        return (completed.WithNotice(what, command.Succeeded, message, command.Id), CommandResult.Applied(message, command.Id));
    }
}

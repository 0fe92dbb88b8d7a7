using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Raft.Hosting;

namespace PgRaft.Node.Hosting;

/// <summary>Adding and removing nodes at run time (<c>pgraft member add|remove</c>): Raft membership first, then the cluster's member list.</summary>
internal sealed partial class NodeRuntime
{
    // Below the CLI's 5 s request timeout; a learner still catching up then is promoted by the membership loop.
    private static readonly TimeSpan PromotionWait = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan NotMemberLogInterval = TimeSpan.FromSeconds(30);
    private TimeSpan _nextNotMemberLog;

    private async Task<MembershipResult> ChangeMembershipAsync(MembershipChange change, CancellationToken cancellationToken)
    {
        RequireLeader();
        return change.Action switch
        {
            MembershipAction.Add => await AddRaftMemberAsync(change.NodeId, change.RaftAddress, cancellationToken),
            MembershipAction.Remove => await RemoveRaftMemberAsync(change.NodeId, cancellationToken),
            _ => new MembershipResult(false, $"unknown membership action {change.Action}"),
        };
    }

    private async Task<MembershipResult> AddRaftMemberAsync(string nodeId, string? address, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(address))
        {
            return new(false, $"give {nodeId}'s Raft address (its Raft:Advertise, or Raft:Bind), e.g. --raft 10.0.0.4:7432");
        }

        var membership = _raft.Membership;
        if (membership.Voters.Contains(nodeId))
        {
            return new(true, $"{nodeId} is already a voting member");
        }

        try
        {
            if (!membership.Learners.Contains(nodeId))
            {
                await _raft.AddLearnerAsync(nodeId, address, cancellationToken);
            }
        }
        catch (ArgumentException ex)
        {
            return new(false, ex.Message);
        }

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(PromotionWait);
        try
        {
            await _raft.PromoteLearnerAsync(nodeId, wait.Token);
            return new(true, $"{nodeId} is a voting member (Raft at {address}); it registers itself and is cloned as a standby");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The membership loop promotes it once it has caught up.
            return new(true, $"{nodeId} is a learner (Raft at {address}) until it has caught up with the log, then a voter; is `pgraft run` with Join: true running there?");
        }
    }

    private async Task<MembershipResult> RemoveRaftMemberAsync(string nodeId, CancellationToken cancellationToken)
    {
        var state = _stateMachine.Current;
        var membership = _raft.Membership;
        if (!membership.Contains(nodeId) && !state.Members.ContainsKey(nodeId))
        {
            return new(false, $"{nodeId} is not a member; members: {string.Join(", ", membership.All.Order(StringComparer.Ordinal))}");
        }

        // The cluster's own rules first (not the primary, not in the sync set, no pending handover to it), so a refusal
        // leaves Raft untouched.
        if (state.Members.ContainsKey(nodeId) && ClusterStateApplier.Apply(state, new RemoveMember(nodeId)).Result is { IsApplied: false } refusal)
        {
            return new(false, refusal.Message);
        }

        if (membership.Voters.Contains(nodeId) && membership.Voters.Count <= 2)
        {
            return new(false, $"removing {nodeId} would leave {membership.Voters.Count - 1} voter(s): a cluster needs a majority of its voters to run; add a node first");
        }

        if (nodeId == _options.NodeId)
        {
            // Removing the leader itself would end its term without a successor chosen: hand over first.
            var target = membership.Voters.FirstOrDefault(v => v != nodeId);
            if (target is not null)
            {
                await _raft.TransferLeadershipAsync(target, cancellationToken);
            }

            return new(false, $"{nodeId} led Raft and is handing leadership to {target}; ask the new leader", RetryElsewhere: true);
        }

        if (membership.Contains(nodeId))
        {
            await _raft.RemoveMemberAsync(nodeId, cancellationToken);
        }

        // Raft first: a node that is no longer a Raft member cannot register itself again (ControlPlane refuses it).
        if (state.Members.ContainsKey(nodeId))
        {
            var result = await ProposeLocallyAsync(new RemoveMember(nodeId), cancellationToken);
            if (!result.IsApplied)
            {
                return new(false, $"{nodeId} left Raft, but the member list kept it: {result.Message}");
            }
        }

        return new(true, $"{nodeId} removed; stop its pgraft, and keep or retire its data directory as you need");
    }

    /// <summary>On the leader: learners that have caught up become voters. On a node not (yet) a member: say how to add it.</summary>
    private async Task MaintainMembershipAsync(CancellationToken cancellationToken)
    {
        var membership = _raft.Membership;
        if (!membership.Contains(_options.NodeId))
        {
            if (_clock.Now >= _nextNotMemberLog)
            {
                _nextNotMemberLog = _clock.Now + NotMemberLogInterval;
                LogMessages.NotAMember(_logger, _options.NodeId, _self.RaftAddress);
            }

            return;
        }

        if (!_raft.IsLeader)
        {
            return;
        }

        foreach (var learner in membership.Learners)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(TimeSpan.FromMilliseconds(500));
            try
            {
                await _raft.PromoteLearnerAsync(learner, wait.Token);
                LogMessages.LearnerPromoted(_logger, learner);
            }
            catch (Exception ex) when (ex is NotLeaderException or ArgumentException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // Still catching up, or leadership moved: the next round tries again.
            }
        }
    }

    /// <summary>Only Raft members may register as cluster members (a removed node must not add itself back).</summary>
    private CommandResult? RefuseNonMember(ClusterCommand command)
    {
        var member = command switch
        {
            AddMember add => add.Member,
            UpdateMember update => update.Member,
            _ => null,
        };
        return member is not null && !_raft.Membership.Contains(member.NodeId)
            ? CommandResult.Rejected($"{member.NodeId} is not a Raft member of this cluster; on a member run `pgraft member add {member.NodeId} --raft {member.RaftAddress}`")
            : null;
    }
}

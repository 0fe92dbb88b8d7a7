using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;
using PgRaft.Raft.Tests.Simulation;

namespace PgRaft.Raft.Tests.Core;

public sealed class RaftCoreTests
{
    private static readonly Snapshot ThreeNodeBootstrap =
        new(new SnapshotMetadata(0, 0, Membership.Of("n1", "n2", "n3")), ReadOnlyMemory<byte>.Empty);

    private static RaftCore NewCore(string id, PersistedState state, Action<RaftCoreOptions>? configure = null)
    {
        var options = new RaftCoreOptions { Id = id, ElectionTicks = 10, HeartbeatTicks = 1 };
        configure?.Invoke(options);
        return new RaftCore(options, state, new Random(7));
    }

    private static LogEntry Entry(long index, long term) => new(index, term, EntryKind.Command, TestCluster.Command(index * 100 + term));

    [Fact]
    public void Single_node_elects_itself_and_commits_only_what_it_has_persisted()
    {
        var bootstrap = new Snapshot(new SnapshotMetadata(0, 0, Membership.Of("n1")), ReadOnlyMemory<byte>.Empty);
        var core = NewCore("n1", new PersistedState(HardState.Empty, bootstrap, []));
        for (var i = 0; i < 20 && core.SoftState.Role != RaftRole.Leader; i++)
        {
            core.Tick();
        }

        Assert.Equal(RaftRole.Leader, core.SoftState.Role);
        Assert.Equal(1, core.SoftState.Term);
        var first = core.GetReady();
        Assert.Equal(new HardState(1, "n1", 0), first.HardState);
        Assert.Single(first.EntriesToPersist); // the leader's empty entry
        Assert.Empty(first.CommittedEntries); // not durable yet: cannot be committed
        Assert.Equal(0, core.CommitIndex);
        core.Advance(first);
        Assert.Equal(1, core.CommitIndex);

        var (result, index, term) = core.Propose(TestCluster.Command(42));
        Assert.Equal((ProposeResult.Accepted, 2L, 1L), (result, index, term));
        var second = core.GetReady();
        Assert.Equal(2, second.EntriesToPersist[^1].Index);
        Assert.DoesNotContain(second.CommittedEntries, e => e.Index == 2);
        core.Advance(second);
        Assert.Equal(2, core.CommitIndex);
        var third = core.GetReady();
        Assert.Equal([2L], third.CommittedEntries.Select(e => e.Index));
        core.Advance(third);
        Assert.Equal(2, core.AppliedIndex);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    internal void An_entry_proposed_while_a_ready_is_out_is_not_committed_until_its_own_ready_is_persisted(bool brokenCore)
    {
        // With the test-only fault the leader counts its unpersisted entry, which this test must notice.
        var bootstrap = new Snapshot(new SnapshotMetadata(0, 0, Membership.Of("n1")), ReadOnlyMemory<byte>.Empty);
        var core = NewCore("n1", new PersistedState(HardState.Empty, bootstrap, []), o => o.Fault = brokenCore ? CoreFault.CountUnpersistedSelf : CoreFault.None);
        for (var i = 0; i < 20; i++)
        {
            core.Tick();
        }

        core.Advance(core.GetReady());
        var outstanding = core.GetReady();
        var (_, index, _) = core.Propose(TestCluster.Command(1));
        core.Advance(outstanding);
        Assert.Equal(brokenCore, core.CommitIndex >= index);
        var next = core.GetReady();
        Assert.Contains(next.EntriesToPersist, e => e.Index == index);
        core.Advance(next);
        Assert.Equal(index, core.CommitIndex);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    internal void A_leader_commits_an_earlier_term_entry_only_through_an_entry_of_its_own_term(bool brokenCore)
    {
        // n1 holds an uncommitted entry of term 2 at index 2; as leader of term 3 it must not commit it by counting
        // replicas (the Raft paper's figure 8), only once its own term-3 entry reaches a quorum.
        var n1 = NewCore("n1", new PersistedState(new HardState(2, null, 1), ThreeNodeBootstrap, [Entry(1, 1), Entry(2, 2)]), o =>
        {
            o.MaxEntriesPerAppend = 1;
            o.Fault = brokenCore ? CoreFault.CommitEarlierTermsByCount : CoreFault.None;
        });
        var n2 = NewCore("n2", new PersistedState(new HardState(2, null, 1), ThreeNodeBootstrap, [Entry(1, 1)]));
        for (var i = 0; i < 40 && n1.SoftState.Role != RaftRole.Leader; i++)
        {
            n1.Tick();
            foreach (var m in Drain(n1).Where(m => m.To == "n2"))
            {
                n2.Step(m);
                Drain(n2).ForEach(n1.Step);
            }
        }

        Assert.Equal(RaftRole.Leader, n1.SoftState.Role);
        Assert.Equal(3, n1.SoftState.Term);
        Assert.Equal(3, n1.LastIndex);

        // Replicate one entry at a time to n2 and watch the commit index after each acknowledgement.
        var commits = new List<long>();
        for (var guard = 0; guard < 20 && n2.LastIndex < 3; guard++)
        {
            foreach (var m in Drain(n1).Where(m => m.To == "n2" && m.Type == MessageType.Append))
            {
                n2.Step(m);
                foreach (var r in Drain(n2))
                {
                    n1.Step(r);
                    commits.Add(n1.CommitIndex);
                }
            }

            n1.Tick();
        }

        Assert.Equal(3, n2.LastIndex);
        Assert.Equal(brokenCore, commits.Contains(2));
        Assert.Equal(3, n1.CommitIndex);
    }

    [Fact]
    public void A_single_voter_answers_reads_at_once_and_reports_no_followers_unless_leading()
    {
        var bootstrap = new Snapshot(new SnapshotMetadata(0, 0, Membership.Of("n1")), ReadOnlyMemory<byte>.Empty);
        var core = NewCore("n1", new PersistedState(HardState.Empty, bootstrap, []));
        Assert.Empty(core.Followers());
        for (var i = 0; i < 20; i++)
        {
            core.Tick();
        }

        Drain(core);
        Assert.True(core.ReadIndex("x"u8.ToArray()));
        var read = Assert.Single(core.GetReady().ReadStates);
        Assert.Equal(core.CommitIndex, read.Index);
    }

    [Fact]
    public void The_leader_reports_its_followers_and_the_committed_membership()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        cluster.Add("n4", snapshot: null);
        cluster.Isolate("n4");
        leader.ProposeConfigChange(new ConfigChange(ConfigChangeKind.AddLearner, "n4"));
        cluster.ProcessAll();
        Assert.Contains("n4", leader.Membership.Learners);
        Assert.DoesNotContain("n4", leader.CommittedMembership.Learners); // appended, not committed yet
        cluster.DeliverAll();
        Assert.Contains("n4", leader.CommittedMembership.Learners);
        var followers = leader.Followers();
        Assert.Equal(["n2", "n3", "n4"], followers.Select(f => f.Id));
        Assert.Equal(leader.LastIndex, followers[0].Match);
        Assert.True(followers[2].IsLearner);
        Assert.Equal(0, followers[2].Match);
        Assert.Empty(cluster["n2"].Followers());
        Assert.Equal([true, true, false], followers.Select(f => f.RecentlyActive));

        cluster.Isolate("n3");
        cluster.Run(12);
        Assert.Equal([true, false, false], leader.Followers().Select(f => f.RecentlyActive));
    }

    [Fact]
    public void Three_nodes_elect_one_leader_and_apply_the_same_commands_in_order()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        cluster.Run(60);
        var leader = cluster.Leader();
        Assert.NotNull(leader);
        Assert.Single(cluster.Nodes.Values, n => n.Core!.SoftState.Role == RaftRole.Leader);
        for (var i = 1; i <= 20; i++)
        {
            Assert.Equal(ProposeResult.Accepted, cluster[leader].Propose(TestCluster.Command(i)).Result);
        }

        cluster.Run(5);
        var expected = Enumerable.Range(1, 20).Select(i => (long)i).ToList();
        foreach (var id in cluster.Nodes.Keys)
        {
            Assert.Equal(expected, cluster.AppliedCommands(id));
            Assert.Equal(cluster[leader].CommitIndex, cluster[id].CommitIndex);
            Assert.Equal(leader, cluster[id].SoftState.Leader);
        }
    }

    [Fact]
    public void Followers_refuse_proposals_and_a_new_leader_starts_its_term_with_an_empty_entry()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        Assert.Equal(ProposeResult.NotLeader, cluster["n2"].Propose(TestCluster.Command(1)).Result);
        var first = cluster.Applied["n2"][0];
        Assert.Equal((1L, leader.SoftState.Term, EntryKind.Command, 0), (first.Index, first.Term, first.Kind, first.Data.Length));
    }

    [Fact]
    public void A_candidate_with_a_shorter_log_gets_no_vote()
    {
        var longer = new PersistedState(new HardState(2, null, 0), ThreeNodeBootstrap, [Entry(1, 1), Entry(2, 2)]);
        var voter = NewCore("n2", longer);
        voter.Step(new RaftMessage { Type = MessageType.Vote, From = "n1", To = "n2", Term = 3, Index = 1, LogTerm = 1 });
        var reply = voter.GetReady().Messages.Single();
        Assert.True(reply.Reject);
        Assert.Equal(MessageType.VoteResponse, reply.Type);
    }

    [Fact]
    public void A_vote_is_granted_once_per_term_and_survives_a_restart()
    {
        var storage = new SimStorage(ThreeNodeBootstrap);
        var voter = NewCore("n2", storage.Load());
        voter.Step(new RaftMessage { Type = MessageType.Vote, From = "n1", To = "n2", Term = 1 });
        var ready = voter.GetReady();
        Assert.False(ready.Messages.Single().Reject);
        Assert.Equal(new HardState(1, "n1", 0), ready.HardState);
        storage.Persist(ready.Snapshot, ready.EntriesToPersist, ready.HardState);
        voter.Advance(ready);

        var restarted = NewCore("n2", storage.Load());
        restarted.Step(new RaftMessage { Type = MessageType.Vote, From = "n3", To = "n2", Term = 1 });
        Assert.True(restarted.GetReady().Messages.Single().Reject);
        Assert.Equal(1, restarted.SoftState.Term);
    }

    [Fact]
    public void Messages_from_an_older_term_are_ignored_and_a_stale_leader_is_told_the_new_term()
    {
        var core = NewCore("n2", new PersistedState(new HardState(5, null, 0), ThreeNodeBootstrap, []));
        core.Step(new RaftMessage { Type = MessageType.Append, From = "n1", To = "n2", Term = 3, Entries = [Entry(1, 3)] });
        Assert.Equal(0, core.LastIndex);
        var first = core.GetReady();
        var reply = first.Messages.Single();
        Assert.Equal((MessageType.AppendResponse, 5L), (reply.Type, reply.Term));
        core.Advance(first);

        core.Step(new RaftMessage { Type = MessageType.Vote, From = "n3", To = "n2", Term = 4, Index = 9, LogTerm = 4 });
        core.Step(new RaftMessage { Type = MessageType.PreVote, From = "n3", To = "n2", Term = 4, Index = 9, LogTerm = 4 });
        var ready = core.GetReady();
        Assert.Equal([(MessageType.VoteResponse, 5L, true), (MessageType.PreVoteResponse, 5L, true)], ready.Messages.Select(m => (m.Type, m.Term, m.Reject)));
        Assert.Null(ready.HardState); // no vote was recorded
        core.Advance(ready);

        core.Step(new RaftMessage { Type = MessageType.Heartbeat, From = "n1", To = "n3", Term = 9 });
        core.Step(new RaftMessage { Type = MessageType.Heartbeat, From = "n2", To = "n2", Term = 9 });
        Assert.Equal(5, core.SoftState.Term);
        Assert.False(core.HasReady());
    }

    [Fact]
    public void A_leader_steps_down_on_a_higher_term()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        var term = leader.SoftState.Term;
        leader.Step(new RaftMessage { Type = MessageType.AppendResponse, From = "n2", To = "n1", Term = term + 3, Index = -1 });
        Assert.Equal(RaftRole.Follower, leader.SoftState.Role);
        Assert.Equal(term + 3, leader.SoftState.Term);
    }

    [Fact]
    public void Conflicting_suffix_is_replaced_with_few_round_trips_thanks_to_the_rejection_hint()
    {
        // n2 holds 50 entries of term 1 that n1 never had; n1 has 2 entries of term 1 and 3 of term 2.
        var n2Log = Enumerable.Range(1, 50).Select(i => Entry(i, 1)).ToList();
        var n1Log = new List<LogEntry> { Entry(1, 1), Entry(2, 1), Entry(3, 2), Entry(4, 2), Entry(5, 2) };
        var n1 = NewCore("n1", new PersistedState(new HardState(2, null, 2), ThreeNodeBootstrap, n1Log));
        var n2 = NewCore("n2", new PersistedState(new HardState(1, null, 2), ThreeNodeBootstrap, n2Log));
        // n1 wins votes from n3 (empty) directly.
        for (var i = 0; i < 40 && n1.SoftState.Role != RaftRole.Leader; i++)
        {
            n1.Tick();
            foreach (var m in Drain(n1))
            {
                if (m.To == "n3" && m.Type is MessageType.PreVote or MessageType.Vote)
                {
                    n1.Step(new RaftMessage { Type = m.Type == MessageType.PreVote ? MessageType.PreVoteResponse : MessageType.VoteResponse, From = "n3", To = "n1", Term = m.Term });
                }
            }
        }

        Assert.Equal(RaftRole.Leader, n1.SoftState.Role);
        var appendsToN2 = 0;
        var queue = new Queue<RaftMessage>(Drain(n1).Where(m => m.To == "n2"));
        for (var guard = 0; guard < 100 && queue.Count > 0; guard++)
        {
            var m = queue.Dequeue();
            if (m.To == "n2")
            {
                appendsToN2 += m.Type == MessageType.Append ? 1 : 0;
                n2.Step(m);
                foreach (var r in Drain(n2))
                {
                    n1.Step(r);
                }
            }

            foreach (var next in Drain(n1).Where(x => x.To == "n2" && x.Type == MessageType.Append))
            {
                queue.Enqueue(next);
            }
        }

        Assert.Equal(n1.LastIndex, n2.LastIndex);
        Assert.Equal(n1.Log.TermAt(n1.LastIndex), n2.Log.TermAt(n2.LastIndex));
        Assert.InRange(appendsToN2, 1, 4);
    }

    [Fact]
    public void A_partitioned_node_with_prevote_does_not_raise_its_term_and_does_not_disrupt_on_return()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        var term = leader.SoftState.Term;
        cluster.Isolate("n3");
        cluster.Run(100);
        Assert.Equal(term, cluster["n3"].SoftState.Term);
        Assert.NotEqual(RaftRole.Leader, cluster["n3"].SoftState.Role);
        cluster.HealAll();
        cluster.Run(30);
        Assert.Equal(RaftRole.Leader, leader.SoftState.Role);
        Assert.Equal(term, leader.SoftState.Term);
        Assert.Equal("n1", cluster["n3"].SoftState.Leader);
    }

    [Fact]
    public void Without_prevote_a_returning_node_forces_a_new_term()
    {
        // The contrast case: the previous test's check would fail without PreVote.
        var cluster = new TestCluster(id => new RaftCoreOptions { Id = id, ElectionTicks = 10, HeartbeatTicks = 1, PreVote = false, CheckQuorum = false }, "n1", "n2", "n3");
        var term = cluster.Elect("n1").SoftState.Term;
        cluster.Isolate("n3");
        cluster.Run(100);
        Assert.True(cluster["n3"].SoftState.Term > term);
        cluster.HealAll();
        cluster.Run(40);
        Assert.True(cluster[cluster.Leader()!].SoftState.Term > term);
    }

    [Fact]
    public void Check_quorum_makes_an_isolated_leader_step_down_and_the_rest_elect_a_new_one()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        cluster.Isolate("n1");
        cluster.Run(40);
        Assert.NotEqual(RaftRole.Leader, leader.SoftState.Role);
        var newLeader = cluster.Leader();
        Assert.NotNull(newLeader);
        Assert.NotEqual("n1", newLeader);
        Assert.Equal(ProposeResult.NotLeader, leader.Propose(TestCluster.Command(1)).Result);
    }

    [Fact]
    public void A_follower_that_heard_from_its_leader_ignores_a_higher_term_vote_request()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var term = cluster.Elect("n1").SoftState.Term;
        var n2 = cluster["n2"];
        n2.Step(new RaftMessage { Type = MessageType.Vote, From = "n3", To = "n2", Term = term + 1, Index = 100, LogTerm = term });
        Assert.Equal(term, n2.SoftState.Term);
        Assert.False(n2.HasReady());
    }

    [Fact]
    public void Leadership_transfer_hands_over_and_refuses_proposals_meanwhile()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        cluster.Isolate("n3");
        leader.Propose(TestCluster.Command(1));
        cluster.DeliverAll();
        cluster.HealAll();
        Assert.True(leader.TransferLeadership("n3"));
        Assert.Equal(ProposeResult.TransferInProgress, leader.Propose(TestCluster.Command(2)).Result);
        cluster.DeliverAll();
        Assert.Equal("n3", cluster.Leader());
        Assert.Equal(RaftRole.Follower, leader.SoftState.Role);
        Assert.Equal([1L], cluster.AppliedCommands("n3"));
        Assert.False(cluster["n3"].TransferLeadership("n9"));
        Assert.False(cluster["n2"].TransferLeadership("n1"));
    }

    [Fact]
    public void A_transfer_to_an_unreachable_node_is_aborted_after_an_election_timeout()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        cluster.Isolate("n3");
        Assert.True(leader.TransferLeadership("n3"));
        cluster.Run(5);
        Assert.Equal(ProposeResult.TransferInProgress, leader.Propose(TestCluster.Command(1)).Result);
        cluster.Run(10);
        Assert.Equal(RaftRole.Leader, leader.SoftState.Role);
        Assert.Null(leader.LeadTransferee);
        Assert.Equal(ProposeResult.Accepted, leader.Propose(TestCluster.Command(1)).Result);
    }

    [Fact]
    public void Read_index_confirms_leadership_with_a_quorum_before_answering()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        Assert.False(cluster["n2"].ReadIndex("r0"u8.ToArray()));
        leader.Propose(TestCluster.Command(1));
        cluster.DeliverAll();

        Assert.True(leader.ReadIndex("r1"u8.ToArray()));
        cluster.ProcessAll();
        Assert.Empty(cluster.Reads); // not before the heartbeat round
        cluster.DeliverAll();
        var (node, read) = Assert.Single(cluster.Reads);
        Assert.Equal("n1", node);
        Assert.Equal(leader.CommitIndex, read.Index);
        Assert.Equal("r1"u8.ToArray(), read.Context.ToArray());

        cluster.Isolate("n1");
        Assert.True(leader.ReadIndex("r2"u8.ToArray()));
        cluster.Run(3);
        Assert.Single(cluster.Reads); // an isolated leader cannot confirm
    }

    [Fact]
    public void Read_index_is_refused_until_the_leader_committed_an_entry_of_its_term()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        cluster.Isolate("n2");
        cluster.Isolate("n3");
        for (var i = 0; i < 40 && cluster["n1"].SoftState.Role != RaftRole.Leader; i++)
        {
            // Hand-deliver votes but no append acknowledgements.
            cluster.Tick("n1");
            foreach (var m in cluster.Sent.Where(m => m.Type is MessageType.PreVote or MessageType.Vote).ToList())
            {
                cluster.Sent.Remove(m);
                cluster["n1"].Step(new RaftMessage { Type = m.Type == MessageType.PreVote ? MessageType.PreVoteResponse : MessageType.VoteResponse, From = m.To, To = "n1", Term = m.Term });
            }

            cluster.ProcessAll();
        }

        Assert.Equal(RaftRole.Leader, cluster["n1"].SoftState.Role);
        Assert.False(cluster["n1"].ReadIndex("r"u8.ToArray()));
        Assert.Equal(ProposeResult.ConfigChangePending, cluster["n1"].ProposeConfigChange(new ConfigChange(ConfigChangeKind.Remove, "n3")).Result);
    }

    [Fact]
    public void A_learner_gets_the_log_by_snapshot_never_votes_and_is_promoted_once_caught_up()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        for (var i = 1; i <= 10; i++)
        {
            leader.Propose(TestCluster.Command(i));
        }

        cluster.DeliverAll();
        foreach (var id in cluster.Nodes.Keys)
        {
            var node = cluster.Nodes[id];
            node.Core!.Compact(node.Core.AppliedIndex, node.StateMachine.TakeSnapshot());
            node.Storage.InstallSnapshot(node.Core.Snapshot!);
        }

        var learner = cluster.Add("n4", snapshot: null);
        Assert.False(learner.Core!.IsInitialised);
        cluster.Isolate("n4");
        Assert.Equal(ProposeResult.Accepted, leader.ProposeConfigChange(new ConfigChange(ConfigChangeKind.AddLearner, "n4")).Result);
        Assert.Equal(ProposeResult.ConfigChangePending, leader.ProposeConfigChange(new ConfigChange(ConfigChangeKind.Remove, "n2")).Result);
        cluster.DeliverAll();
        Assert.Contains("n4", leader.Membership.Learners);
        Assert.Equal(ProposeResult.InvalidConfigChange, leader.ProposeConfigChange(new ConfigChange(ConfigChangeKind.PromoteLearner, "n4")).Result);

        cluster.HealAll();
        cluster.Run(5);
        Assert.Contains(cluster.Sent, m => m.Type == MessageType.InstallSnapshot && m.To == "n4");
        Assert.Equal(leader.CommitIndex, learner.Core.CommitIndex);
        Assert.Equal(learner.Core.AppliedIndex, learner.StateMachine.AppliedIndex);
        Assert.Equal(cluster.Nodes["n1"].StateMachine.Hash, learner.StateMachine.Hash);

        // A learner never campaigns, and its acknowledgements do not count toward commit.
        cluster.Isolate("n4");
        cluster.Run(60);
        Assert.Equal(RaftRole.Follower, learner.Core.SoftState.Role);
        cluster.HealAll();
        cluster.Isolate("n2");
        cluster.Isolate("n3");
        leader.Propose(TestCluster.Command(99));
        var commit = leader.CommitIndex;
        cluster.Run(3);
        Assert.Equal(commit, leader.CommitIndex);
        cluster.HealAll();
        cluster.Run(20);
        var current = cluster[cluster.Leader()!];

        Assert.Equal(ProposeResult.Accepted, current.ProposeConfigChange(new ConfigChange(ConfigChangeKind.PromoteLearner, "n4")).Result);
        cluster.Run(5);
        Assert.Contains("n4", learner.Core.Membership.Voters);
        Assert.Equal([1L, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99], cluster.AppliedCommands("n2"));
    }

    [Fact]
    public void Invalid_membership_changes_are_refused()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        Assert.Equal(ProposeResult.InvalidConfigChange, leader.ProposeConfigChange(new ConfigChange(ConfigChangeKind.AddLearner, "n2")).Result);
        Assert.Equal(ProposeResult.InvalidConfigChange, leader.ProposeConfigChange(new ConfigChange(ConfigChangeKind.PromoteLearner, "n2")).Result);
        Assert.Equal(ProposeResult.InvalidConfigChange, leader.ProposeConfigChange(new ConfigChange(ConfigChangeKind.Remove, "n9")).Result);
        Assert.Equal(ProposeResult.InvalidConfigChange, leader.ProposeConfigChange(new ConfigChange(ConfigChangeKind.AddLearner, "")).Result);
        Assert.Equal(ProposeResult.NotLeader, cluster["n2"].ProposeConfigChange(new ConfigChange(ConfigChangeKind.Remove, "n3")).Result);
    }

    [Fact]
    public void A_removed_leader_steps_down_once_the_change_commits_and_the_rest_carry_on()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        Assert.Equal(ProposeResult.Accepted, leader.ProposeConfigChange(new ConfigChange(ConfigChangeKind.Remove, "n1")).Result);
        Assert.Equal(RaftRole.Leader, leader.SoftState.Role); // not before the change commits
        cluster.DeliverAll();
        Assert.Equal(RaftRole.Follower, leader.SoftState.Role);
        cluster.Run(40);
        var next = cluster.Leader();
        Assert.NotNull(next);
        Assert.NotEqual("n1", next);
        Assert.Equal(["n2", "n3"], cluster[next].Membership.Voters);
        Assert.Equal(ProposeResult.Accepted, cluster[next].Propose(TestCluster.Command(5)).Result);
        cluster.Run(3);
        Assert.Equal([5L], cluster.AppliedCommands("n2"));
        Assert.Equal(RaftRole.Follower, leader.SoftState.Role); // the removed node never campaigns
    }

    [Fact]
    public void A_crash_before_persisting_loses_the_ready_and_the_node_catches_up_after_restart()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        cluster.Nodes["n3"].PendingCrash = CrashPoint.BeforePersist;
        leader.Propose(TestCluster.Command(1));
        cluster.DeliverAll();
        Assert.False(cluster.Nodes["n3"].IsUp);
        Assert.Equal(1, cluster.Nodes["n3"].Storage.LastIndex); // only the leader's first entry made it to disk
        cluster.Nodes["n3"].Restart();
        cluster.Run(5);
        Assert.Equal([1L], cluster.AppliedCommands("n3"));
        Assert.Equal(leader.CommitIndex, cluster["n3"].CommitIndex);
    }

    [Fact]
    public void Compact_drops_the_log_up_to_an_applied_index_only()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        leader.Propose(TestCluster.Command(1));
        leader.Propose(TestCluster.Command(2));
        cluster.DeliverAll();
        Assert.Throws<ArgumentOutOfRangeException>(() => leader.Compact(leader.AppliedIndex + 1, new byte[] { 1 }));
        leader.Compact(2, new byte[] { 9 });
        Assert.Equal(3, leader.FirstIndex);
        Assert.Equal(2, leader.Snapshot!.Metadata.Index);
        Assert.Equal(leader.Log.MembershipAt(2), leader.Snapshot.Metadata.Membership);
        leader.Compact(1, new byte[] { 8 }); // older than what we hold: ignored
        Assert.Equal(2, leader.Snapshot.Metadata.Index);
    }

    [Fact]
    public void GetReady_requires_Advance_in_between()
    {
        var cluster = new TestCluster("n1", "n2", "n3");
        var core = cluster["n1"];
        core.Step(new RaftMessage { Type = MessageType.Vote, From = "n2", To = "n1", Term = 1 });
        var ready = core.GetReady();
        Assert.False(core.HasReady());
        Assert.Throws<InvalidOperationException>(() => core.GetReady());
        Assert.Throws<InvalidOperationException>(() => core.Advance(new Ready()));
        core.Advance(ready);
        Assert.Throws<InvalidOperationException>(() => core.Advance(ready));
    }

    [Fact]
    public void A_node_with_no_snapshot_never_campaigns()
    {
        var core = NewCore("n9", new PersistedState(HardState.Empty, null, []));
        for (var i = 0; i < 200; i++)
        {
            core.Tick();
        }

        Assert.Equal(RaftRole.Follower, core.SoftState.Role);
        Assert.Equal(0, core.SoftState.Term);
        Assert.Empty(core.Membership.All);
    }

    [Fact]
    public void Step_drops_nonsense_without_throwing()
    {
        var random = new Random(11);
        var cluster = new TestCluster("n1", "n2", "n3");
        var leader = cluster.Elect("n1");
        var types = Enum.GetValues<MessageType>();
        for (var i = 0; i < 5000; i++)
        {
            var target = cluster[$"n{1 + random.Next(3)}"];
            var index = random.Next(-3, 30);
            var entries = random.Next(3) == 0
                ? Enumerable.Range(0, random.Next(4)).Select(k => new LogEntry(random.Next(-1, 30), random.Next(-1, 5), (EntryKind)random.Next(3), new byte[random.Next(5)])).ToList()
                : [];
            target.Step(new RaftMessage
            {
                Type = random.Next(20) == 0 ? (MessageType)200 : types[random.Next(types.Length)],
                From = random.Next(10) == 0 ? "" : $"n{random.Next(6)}",
                To = target.Id,
                Term = random.Next(-1, 4),
                Index = index,
                LogTerm = random.Next(-1, 4),
                Commit = random.Next(-1, 40),
                Reject = random.Next(2) == 0,
                RejectHint = random.Next(-2, 30),
                Entries = entries,
                Context = random.Next(2) == 0 ? new byte[random.Next(10)] : ReadOnlyMemory<byte>.Empty,
                Snapshot = random.Next(20) == 0
                    ? new Snapshot(new SnapshotMetadata(random.Next(-1, 5), random.Next(-1, 3), Membership.Of("n1", "n2")), ReadOnlyMemory<byte>.Empty)
                    : null,
            });
            cluster.ProcessAll();
        }

        Assert.True(leader.CommitIndex >= 1);
    }

    private static List<RaftMessage> Drain(RaftCore core)
    {
        var messages = new List<RaftMessage>();
        while (core.HasReady())
        {
            var ready = core.GetReady();
            messages.AddRange(ready.Messages);
            core.Advance(ready);
        }

        return messages;
    }
}

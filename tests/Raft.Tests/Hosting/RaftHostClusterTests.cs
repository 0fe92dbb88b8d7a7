using System.Text;
using PgRaft.Raft.Core;
using PgRaft.Raft.Hosting;
using PgRaft.Raft.Storage;
using PgRaft.Raft.Tests.Transport;
using Xunit.Abstractions;

namespace PgRaft.Raft.Tests.Hosting;

public sealed class RaftHostClusterTests(ITestOutputHelper output)
{
    private static readonly string[] Three = ["n1", "n2", "n3"];

    private static byte[] Command(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Runs <paramref name="action"/> on the current leader, again on the next one if leadership moved (a loaded CI machine can cause an election).</summary>
    private static async Task<T> OnLeaderAsync<T>(TestCluster cluster, Func<RaftHost, Task<T>> action, IEnumerable<string>? among = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            var leader = await cluster.WaitForLeaderAsync(among);
            try
            {
                return await action(leader);
            }
            catch (NotLeaderException) when (attempt < 10)
            {
                await Task.Delay(50);
            }
        }
    }

    private static Task<long> ProposeAsync(TestCluster cluster, string text, IEnumerable<string>? among = null) =>
        OnLeaderAsync(cluster, async leader =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            return (long)(await leader.ProposeAsync(Command(text), cts.Token))!;
        }, among);

    private static async Task AllAppliedAsync(TestCluster cluster, IEnumerable<string> ids, long index) =>
        await Eventually.TrueAsync(
            () => ids.All(id => cluster.Hosts[id].AppliedIndex >= index),
            TimeSpan.FromSeconds(15),
            $"{string.Join(",", ids)} applied index {index}");

    private static void AssertSameState(TestCluster cluster, IEnumerable<string> ids, int expectedCount)
    {
        var states = ids.Select(id => cluster.StateMachines[id].Items).ToArray();
        Assert.Equal(expectedCount, states[0].Length);
        foreach (var state in states.Skip(1))
        {
            Assert.Equal(states[0], state);
        }
    }

    [Fact]
    public async Task Three_nodes_elect_a_leader_replicate_and_agree()
    {
        await using var cluster = new TestCluster(output, Three);
        await cluster.StartAllAsync(Three);
        var leader = await cluster.WaitForLeaderAsync();

        // Bootstrap persisted the initial membership at index 0 (checked on a copy-free reopen later: here via the host).
        Assert.Equal(Three, leader.Membership.Voters.ToArray());
        Assert.Equal(Three, leader.AddressBook.Keys.Order(StringComparer.Ordinal).ToArray());

        long last = 0;
        for (var i = 0; i < 60; i++)
        {
            var index = await ProposeAsync(cluster, "cmd-" + i);
            Assert.True(index > last, "indexes increase");
            last = index;
        }

        // Concurrent proposals too.
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => ProposeAsync(cluster, "par-" + i)));
        Assert.Equal(40, concurrent.Distinct().Count());
        await AllAppliedAsync(cluster, Three, concurrent.Max());
        AssertSameState(cluster, Three, 100);
        Assert.Equal(Enumerable.Range(0, 60).Select(i => "cmd-" + i), cluster.StateMachines["n2"].Items.Take(60));
        Assert.True(cluster.Logs.Count(2104) > 0, "a snapshot was taken (threshold 40)");

        // A follower refuses proposals and reads, naming the leader.
        var follower = cluster.Hosts.Values.First(h => !h.IsLeader);
        var error = await Assert.ThrowsAsync<NotLeaderException>(() => follower.ProposeAsync(Command("x"), CancellationToken.None));
        Assert.Equal(leader.NodeId, error.LeaderId);
        var readError = await Assert.ThrowsAsync<NotLeaderException>(() => follower.ReadIndexAsync(CancellationToken.None));
        Assert.Equal(leader.NodeId, readError.LeaderId);

        // The leader reports its followers, caught up.
        var followers = await leader.GetFollowersAsync(CancellationToken.None);
        Assert.Equal(Three.Where(id => id != leader.NodeId), followers.Select(f => f.Id));
        Assert.All(followers, f => Assert.False(f.IsLearner));
        Assert.Empty(await follower.GetFollowersAsync(CancellationToken.None));

        // ReadIndex on the leader: at least everything acknowledged so far, and applied locally.
        var readIndex = await leader.ReadIndexAsync(CancellationToken.None);
        Assert.True(readIndex >= concurrent.Max());
        Assert.True(leader.AppliedIndex >= readIndex);
    }

    [Fact]
    public async Task Losing_the_leader_elects_another_and_the_restarted_node_catches_up_from_its_own_log()
    {
        await using var cluster = new TestCluster(output, Three);
        await cluster.StartAllAsync(Three);
        var leader = await cluster.WaitForLeaderAsync();
        for (var i = 0; i < 50; i++)
        {
            await ProposeAsync(cluster, "before-" + i);
        }

        await AllAppliedAsync(cluster, Three, leader.CommitIndex);
        var oldLeaderId = leader.NodeId;
        var oldTerm = leader.Term;
        var oldApplied = cluster.Hosts[oldLeaderId].AppliedIndex;
        await cluster.StopAsync(oldLeaderId, graceful: false);

        var survivors = Three.Where(id => id != oldLeaderId).ToArray();
        var newLeader = await cluster.WaitForLeaderAsync(survivors);
        Assert.NotEqual(oldLeaderId, newLeader.NodeId);
        Assert.True(newLeader.Term > oldTerm);
        long last = 0;
        for (var i = 0; i < 30; i++)
        {
            last = await ProposeAsync(cluster, "after-" + i);
        }

        // The old leader restarts from its own data directory, with an empty in-memory state machine.
        var restarted = await cluster.StartAsync(cluster.Options(oldLeaderId, Three));
        var startLine = cluster.Logs.Records.Last(r => r.Record.EventId.Id == 2101 && r.Record.Message.Contains($"node {oldLeaderId} ", StringComparison.Ordinal));
        Assert.DoesNotContain("snapshot index 0, 0 log entries", startLine.Record.Message, StringComparison.Ordinal);
        await Eventually.TrueAsync(() => cluster.StateMachines[oldLeaderId].Items.Length >= 50, TimeSpan.FromSeconds(10), "restored own state");
        await AllAppliedAsync(cluster, Three, last);
        AssertSameState(cluster, Three, 80);
        Assert.True(oldApplied > 0);
        Assert.Equal("before-0", cluster.StateMachines[oldLeaderId].Items[0]);
        Assert.Equal("after-29", cluster.StateMachines[oldLeaderId].Items[^1]);
        Assert.Equal(restarted.LeaderId, (await cluster.WaitForLeaderAsync(Three)).NodeId);
    }

    [Fact]
    public async Task Graceful_stop_of_the_leader_transfers_leadership()
    {
        await using var cluster = new TestCluster(output, Three);
        await cluster.StartAllAsync(Three);
        var leader = await cluster.WaitForLeaderAsync();
        var last = await ProposeAsync(cluster, "x");
        await AllAppliedAsync(cluster, Three, last);
        var oldLeaderId = leader.NodeId;

        await cluster.StopAsync(oldLeaderId, graceful: true);

        Assert.Equal(1, cluster.Logs.Count(2106));
        Assert.Equal(1, cluster.Logs.Count(2107));
        Assert.Equal(0, cluster.Logs.Count(2108));
        var survivors = Three.Where(id => id != oldLeaderId).ToArray();
        var newLeader = await cluster.WaitForLeaderAsync(survivors, TimeSpan.FromSeconds(5));
        Assert.Contains(cluster.Logs.Records, r => r.Record.EventId.Id == 2107 && r.Record.Message.Contains(newLeader.NodeId, StringComparison.Ordinal));

        // A brand-new leader serves a linearizable read (after its term's first commit) without the caller retrying.
        using var readTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var readIndex = await newLeader.ReadIndexAsync(readTimeout.Token);
        Assert.True(readIndex >= last);
        var next = await ProposeAsync(cluster, "y");
        await AllAppliedAsync(cluster, survivors, next);
    }

    [Fact]
    public async Task A_node_with_the_wrong_secret_cannot_join_or_disrupt()
    {
        string[] withIntruder = [.. Three, "intruder"];
        await using var cluster = new TestCluster(output, withIntruder);
        foreach (var id in Three)
        {
            // A longer election timeout than elsewhere: the term check below must not trip on a load-induced election.
            var options = cluster.Options(id, Three);
            options.ElectionTicks = 60;
            await cluster.StartAsync(options);
        }

        var leader = await cluster.WaitForLeaderAsync();
        var term = leader.Term;
        await ProposeAsync(cluster, "a", Three);

        // The intruder believes it is a voter of a four-node cluster and campaigns, with the wrong secret.
        var intruder = await cluster.StartAsync(cluster.Options("intruder", withIntruder, Encoding.UTF8.GetBytes("not the cluster secret at all")));
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var last = await ProposeAsync(cluster, "b", Three);
        await AllAppliedAsync(cluster, Three, last);

        Assert.Equal(leader.NodeId, (await cluster.WaitForLeaderAsync(Three)).NodeId);
        Assert.All(Three, id => Assert.Equal(term, cluster.Hosts[id].Term));
        Assert.NotEqual(RaftRole.Leader, intruder.Role);
        Assert.Equal(0, intruder.CommitIndex);
        Assert.Empty(cluster.StateMachines["intruder"].Items);
        var rejections = cluster.Logs.Records.Count(r => r.Record.EventId.Id == 2004 && r.Record.Message.Contains("'intruder'", StringComparison.Ordinal));
        Assert.True(rejections >= 1, "the cluster logged the rejected intruder");
        // Logged once per peer, not per retry (the intruder retried many times).
        Assert.True(rejections <= Three.Length, $"inbound rejections of the intruder logged at most once per node (got {rejections})");
    }

    [Fact]
    public async Task A_learner_joins_catches_up_through_a_snapshot_and_is_promoted()
    {
        string[] four = [.. Three, "n4"];
        await using var cluster = new TestCluster(output, four);
        await cluster.StartAllAsync(Three);
        var leader = await cluster.WaitForLeaderAsync();
        long last = 0;
        for (var i = 0; i < 100; i++)
        {
            last = await ProposeAsync(cluster, "v" + i);
        }

        // n4 is not an initial member: it waits, empty, to be added.
        var joiner = await cluster.StartAsync(cluster.Options("n4", Three));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var address = $"127.0.0.1:{cluster.PortOf("n4")}";
        await OnLeaderAsync(cluster, async l => { await l.AddLearnerAsync("n4", address, cts.Token); return 0; }, Three);
        Assert.Contains("n4", (await cluster.WaitForLeaderAsync(Three)).Membership.Learners);
        await OnLeaderAsync(cluster, async l => { await l.PromoteLearnerAsync("n4", cts.Token); return 0; }, Three);
        Assert.Contains("n4", (await cluster.WaitForLeaderAsync(Three)).Membership.Voters);
        last = await ProposeAsync(cluster, "after-join", Three);
        await AllAppliedAsync(cluster, four, last);
        AssertSameState(cluster, four, 101);
        Assert.Equal(address, cluster.Hosts["n2"].AddressBook["n4"]);
        Assert.True(cluster.Logs.Count(2105) >= 1, "the joiner installed a snapshot");

        await OnLeaderAsync(cluster, async l => { await l.RemoveMemberAsync("n4", cts.Token); return 0; }, Three);
        Assert.DoesNotContain("n4", (await cluster.WaitForLeaderAsync(Three)).Membership.Voters);
        Assert.Equal("n4", joiner.NodeId);
    }

    [Fact]
    public async Task A_learner_joins_a_young_cluster_whose_leader_still_has_only_the_bootstrap_snapshot()
    {
        // Found by pgraft's `member add`: with the log not yet compacted, the leader sends its bootstrap snapshot (index
        // 0, no state machine data); restoring that empty data into the state machine stopped the joiner.
        string[] four = [.. Three, "n4"];
        await using var cluster = new TestCluster(output, four);
        await cluster.StartAllAsync(Three);
        await cluster.WaitForLeaderAsync();
        var last = await ProposeAsync(cluster, "before-join");

        await cluster.StartAsync(cluster.Options("n4", Three));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var address = $"127.0.0.1:{cluster.PortOf("n4")}";
        await OnLeaderAsync(cluster, async l => { await l.AddLearnerAsync("n4", address, cts.Token); return 0; }, Three);
        await OnLeaderAsync(cluster, async l => { await l.PromoteLearnerAsync("n4", cts.Token); return 0; }, Three);
        last = await ProposeAsync(cluster, "after-join", Three);

        await AllAppliedAsync(cluster, four, last);
        AssertSameState(cluster, four, 2);
    }

    [Fact]
    public async Task A_leader_cut_off_from_its_followers_lets_callers_cancel_and_steps_down()
    {
        await using var cluster = new TestCluster(output, Three);
        foreach (var id in Three)
        {
            var options = cluster.Options(id, Three);
            options.ElectionTicks = 100; // 1-2 s: the window in which the isolated leader still accepts proposals
            await cluster.StartAsync(options);
        }

        var committed = await ProposeAsync(cluster, "committed");
        await AllAppliedAsync(cluster, Three, committed);
        var leader = await cluster.WaitForLeaderAsync();
        foreach (var follower in Three.Where(id => id != leader.NodeId))
        {
            await cluster.StopAsync(follower, graceful: false);
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var pending = leader.ProposeAsync(Command("never commits"), cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        Assert.Equal("committed", Assert.Single(cluster.StateMachines[leader.NodeId].Items));

        // CheckQuorum: without a majority the leader steps down; reads are refused from then on.
        await Eventually.TrueAsync(() => !leader.IsLeader, TimeSpan.FromSeconds(10), "isolated leader steps down");
        await Assert.ThrowsAsync<NotLeaderException>(() => leader.ReadIndexAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Bootstrap_persists_the_initial_membership_before_starting()
    {
        await using var cluster = new TestCluster(output, "solo");
        var options = cluster.Options("solo", ["solo"]);
        var host = await cluster.StartAsync(options);
        await cluster.WaitForLeaderAsync();
        var index = await ProposeAsync(cluster, "only");
        await cluster.StopAsync("solo", graceful: true);

        using var storage = new FileRaftStorage(options.DataDirectory, new CapturingLogger<FileRaftStorage>());
        var state = storage.Load();
        Assert.NotNull(state.Snapshot);
        Assert.Equal(0, state.Snapshot!.Metadata.Index);
        Assert.Equal(["solo"], state.Snapshot.Metadata.Membership.Voters.ToArray());
        Assert.Contains(state.Entries, e => e.Index == index);
    }

    [Fact]
    public void Options_validation_names_the_setting()
    {
        var good = new RaftHostOptions
        {
            NodeId = "n1",
            DataDirectory = "/tmp/x",
            AdvertisedAddress = "127.0.0.1:27001",
            ClusterSecret = new byte[16],
        };
        good.Validate();

        void Expect(string setting, Action<RaftHostOptions> change)
        {
            var options = new RaftHostOptions
            {
                NodeId = good.NodeId,
                DataDirectory = good.DataDirectory,
                AdvertisedAddress = good.AdvertisedAddress,
                ClusterSecret = good.ClusterSecret,
            };
            change(options);
            var error = Assert.Throws<ArgumentException>(options.Validate);
            Assert.Contains(setting, error.Message, StringComparison.Ordinal);
        }

        Expect("NodeId", o => o.NodeId = "bad id!");
        Expect("DataDirectory", o => o.DataDirectory = " ");
        Expect("ClusterSecret", o => o.ClusterSecret = new byte[15]);
        Expect("TickInterval", o => o.TickInterval = TimeSpan.Zero);
        Expect("HeartbeatTicks", o => o.HeartbeatTicks = 50);
        Expect("AdvertisedAddress", o => o.AdvertisedAddress = "no-port");
        Expect("AdvertisedAddress", o => o.AdvertisedAddress = null);
        Expect("InitialMembers[n2]", o => o.InitialMembers = new Dictionary<string, string> { ["n2"] = "host:99999" });
        Expect("SnapshotThreshold", o => o.SnapshotThreshold = 0);
    }
}

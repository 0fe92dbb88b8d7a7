using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Instance;
using PgRaft.PgControl.Rewind;
using PgRaft.PgControl.Tests.Support;

namespace PgRaft.PgControl.Tests.Instance;

public sealed class ReplicationTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly CancellationToken None = CancellationToken.None;

    private static Task<long> CountAsync(TestNode node, string tag) =>
        TestEnvironment.QueryAsync<long>(node.Port, $"SELECT count(*) FROM items WHERE tag = '{tag}'");

    private static Task WaitForRowsAsync(TestNode node, string tag, long expected) =>
        TestEnvironment.EventuallyAsync(async () => await CountAsync(node, tag) == expected, Patience, $"{expected} '{tag}' rows on {node.Name}");

    /// <summary>
    /// One cluster through its life: two standbys cloned with slots, a synchronous standby holding a
    /// commit, a cascaded standby moved by FollowAsync, a promotion, and the old primary, which wrote rows
    /// of its own after the fork, rewound to follow the new one.
    /// </summary>
    [Fact]
    public async Task Clone_replicate_sync_promote_and_rewind_the_old_primary()
    {
        using var directory = new TempDirectory("repl");
        await using var primary = await TestNode.FromTemplateAsync(directory, "p");
        await using var s1 = TestNode.Empty(directory, "s1");
        await using var s2 = TestNode.Empty(directory, "s2");
        foreach (var node in new[] { s1, s2 })
        {
            await node.Instance.WriteConfigurationAsync(new PostgresConfiguration { Parameters = TestEnvironment.FastParameters }, None);
        }

        await primary.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        await TestEnvironment.ExecuteAsync(primary.Port, "CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL)");
        foreach (var standby in new[] { s1, s2 })
        {
            await primary.Instance.CreateSlotAsync(standby.Name, None);
            Assert.Null(await standby.Instance.CloneFromAsync(primary.AsUpstream(standby.Name), None));
            await standby.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        }
        Assert.Equal(["s1", "s2"], (await primary.Instance.ListSlotsAsync(None)).Select(s => s.Name));

        // Rows written on the primary appear on both standbys.
        await TestEnvironment.ExecuteAsync(primary.Port, "INSERT INTO items (tag) SELECT 'first' FROM generate_series(1, 100)");
        await WaitForRowsAsync(s1, "first", 100);
        await WaitForRowsAsync(s2, "first", 100);
        await TestEnvironment.EventuallyAsync(async () =>
        {
            var status = await primary.Instance.ProbeAsync(None);
            return status.Replication.Count == 2 && status.Replication.All(r => r.State == "streaming" && r.FlushLsn is not null);
        }, Patience, "two streaming standbys in pg_stat_replication");
        Assert.True((await primary.Instance.ListSlotsAsync(None)).All(s => s.Active && s.RestartLsn is not null));
        var standbyStatus = await s1.Instance.ProbeAsync(None);
        Assert.True(standbyStatus.InRecovery);
        Assert.Equal($"127.0.0.1:{primary.Port}", standbyStatus.Upstream);
        Assert.NotNull(standbyStatus.ReceiveLsn);
        Assert.NotNull(standbyStatus.ReplayLsn);
        Assert.Equal((await primary.Instance.ProbeAsync(None)).SystemIdentifier, standbyStatus.SystemIdentifier);

        // synchronous_standby_names naming a stopped standby makes a commit wait; starting it releases the commit.
        var change = await primary.Instance.WriteConfigurationAsync(primary.Instance.Configuration with { SynchronousStandbyNames = "ANY 1 (s1)" }, None);
        Assert.Contains("synchronous_standby_names", change.ChangedParameters);
        Assert.False(change.RestartNeeded);
        await primary.Instance.ReloadAsync(None);
        await TestEnvironment.EventuallyAsync(async () => (await primary.Instance.ProbeAsync(None)).Replication.Any(r => r.ApplicationName == "s1" && r.SyncState == "quorum"),
            Patience, "s1 to be a quorum standby");
        await s1.Instance.StopAsync(StopMode.Fast, None);
        var commit = TestEnvironment.ExecuteAsync(primary.Port, "INSERT INTO items (tag) VALUES ('sync')");
        await Task.Delay(1500);
        Assert.False(commit.IsCompleted, "the commit should wait for the stopped synchronous standby");
        await s1.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        await commit.WaitAsync(Patience);
        // The commit waited for s1 to flush the record (synchronous_commit on), not to replay it: reading it there may lag.
        await WaitForRowsAsync(s1, "sync", 1);
        await primary.Instance.WriteConfigurationAsync(primary.Instance.Configuration with { SynchronousStandbyNames = "" }, None);
        await primary.Instance.ReloadAsync(None);

        // s1 follows s2 (cascading) while running: a reload, no restart.
        var s1Pid = s1.Instance.PostmasterPid;
        await s1.Instance.FollowAsync(s2.AsUpstream(), None);
        Assert.Equal(s1Pid, s1.Instance.PostmasterPid);
        await TestEnvironment.EventuallyAsync(async () => (await s1.Instance.ProbeAsync(None)).Upstream == $"127.0.0.1:{s2.Port}", Patience, "s1 streaming from s2");
        await TestEnvironment.ExecuteAsync(primary.Port, "INSERT INTO items (tag) VALUES ('before-fork')");
        await WaitForRowsAsync(s1, "before-fork", 1);

        // Promote s2; the old primary goes on writing rows of its own (a fork, as after a partition).
        // A standby keeps its members' slots made ahead, without a reservation: they hold no WAL there.
        await s2.Instance.CreateSlotAsync("member_a", reserveWal: false, None);
        Assert.Contains(await s2.Instance.ListSlotsAsync(None), slot => slot.Name == "member_a" && slot.RestartLsn is null && !slot.Active);
        await s2.Instance.PromoteAsync(["member_a", "member_b"], None);
        var slotsAfterPromotion = await s2.Instance.ListSlotsAsync(None);
        Assert.Contains(slotsAfterPromotion, slot => slot.Name == "member_a");
        Assert.Contains(slotsAfterPromotion, slot => slot.Name == "member_b");
        await s2.Instance.CheckpointAsync(None);
        var promoted = await s2.Instance.ProbeAsync(None);
        Assert.False(promoted.InRecovery);
        Assert.Equal(2, promoted.Timeline);
        await TestEnvironment.ExecuteAsync(s2.Port, "INSERT INTO items (tag) VALUES ('after-promotion')");
        await TestEnvironment.ExecuteAsync(primary.Port, "INSERT INTO items (tag) SELECT 'old-primary-only' FROM generate_series(1, 50)");
        await WaitForRowsAsync(s1, "after-promotion", 1); // the cascaded standby followed the timeline switch

        await primary.Instance.StopAsync(StopMode.Fast, None);
        var assessment = await primary.Instance.AssessRewindAsync(s2.AsUpstream(), null, None);
        Assert.Equal(RewindDecision.Needed, assessment.Decision);
        var outcome = await primary.Instance.RewindOrCloneAsync(s2.AsUpstream(), null, None);
        Assert.Equal(DivergenceAction.Rewound, outcome.Action);

        // Before any WAL receiver runs (its source is down), the rewound standby already reports the timeline it was
        // rewound onto, not the one of the last checkpoint before the fork: else it would look forked again.
        await s2.Instance.StopAsync(StopMode.Fast, None);
        await primary.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        var beforeStreaming = await primary.Instance.ProbeAsync(None);
        Assert.Null(beforeStreaming.Upstream);
        Assert.Equal(2, beforeStreaming.Timeline);
        await s2.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        await WaitForRowsAsync(primary, "after-promotion", 1);
        Assert.Equal(0, await CountAsync(primary, "old-primary-only"));
        var rewound = await primary.Instance.ProbeAsync(None);
        Assert.True(rewound.InRecovery);
        Assert.Equal(2, rewound.Timeline);

        // Slots: drop one on the new primary's predecessor is gone with it; on the new primary they can be made and dropped.
        await s2.Instance.CreateSlotAsync("p", None);
        await s2.Instance.DropSlotAsync("p", None);
        await s2.Instance.DropSlotAsync("p", None); // dropping a missing slot is a no-op
        Assert.DoesNotContain(await s2.Instance.ListSlotsAsync(None), s => s.Name == "p");
    }

    /// <summary>
    /// Commits waiting on a set that names no streaming standby (a new leader's sentinel may briefly write one) must go
    /// through as soon as the set names one that streams. PostgreSQL releases waiters only when it processes a reply
    /// from a synchronous standby, and a standby with nothing new to flush replies only every
    /// wal_receiver_status_interval (10 s by default): without a nudge, the commits stalled that long.
    /// </summary>
    [Fact]
    public async Task Commits_waiting_on_a_set_of_absent_standbys_go_through_once_the_set_names_a_streaming_one()
    {
        using var directory = new TempDirectory("syncswap");
        await using var primary = await TestNode.FromTemplateAsync(directory, "p");
        await using var s1 = TestNode.Empty(directory, "s1");
        var slowReplies = new Dictionary<string, string>(TestEnvironment.FastParameters) { ["wal_receiver_status_interval"] = "10s" };
        await s1.Instance.WriteConfigurationAsync(new PostgresConfiguration { Parameters = slowReplies }, None);
        await primary.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        await TestEnvironment.ExecuteAsync(primary.Port, "CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL)");
        await primary.Instance.CreateSlotAsync("s1", None);
        Assert.Null(await s1.Instance.CloneFromAsync(primary.AsUpstream("s1"), None));
        await s1.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        await TestEnvironment.EventuallyAsync(async () => (await primary.Instance.ProbeAsync(None)).Replication.Any(r => r.ApplicationName == "s1" && r.State == "streaming"),
            Patience, "s1 streaming");

        await primary.Instance.WriteConfigurationAsync(primary.Instance.Configuration with { SynchronousStandbyNames = "ANY 1 (nobody)" }, None);
        await primary.Instance.ReloadAsync(None);
        await primary.Instance.ReleaseSynchronousWaitersAsync(None);
        var commits = Enumerable.Range(0, 3).Select(i => TestEnvironment.ExecuteAsync(primary.Port, $"INSERT INTO items (tag) VALUES ('waiting {i}')")).ToList();
        await Task.Delay(1000);
        Assert.DoesNotContain(commits, c => c.IsCompleted);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await primary.Instance.WriteConfigurationAsync(primary.Instance.Configuration with { SynchronousStandbyNames = "ANY 1 (s1)" }, None);
        await primary.Instance.ReloadAsync(None);
        await primary.Instance.ReleaseSynchronousWaitersAsync(None);
        await Task.WhenAll(commits).WaitAsync(Patience);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the waiting commits took {clock.Elapsed.TotalSeconds:F1} s to go through after the set named s1");
        await WaitForRowsAsync(s1, "waiting 2", 1);
    }

    /// <summary>
    /// A promoted standby waits for its synchronous standbys from its very first commit: the set the primary will write
    /// is in force before the promotion starts, not reloaded after the server became writable.
    /// </summary>
    [Fact]
    public async Task Promotion_puts_the_synchronous_standby_names_in_force_before_the_server_becomes_writable()
    {
        using var directory = new TempDirectory("promote-sync");
        await using var primary = await TestNode.FromTemplateAsync(directory, "a");
        await using var standby = TestNode.Empty(directory, "b");
        await standby.Instance.WriteConfigurationAsync(new PostgresConfiguration { Parameters = TestEnvironment.FastParameters }, None);
        await primary.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        await TestEnvironment.ExecuteAsync(primary.Port, "CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL)");
        await standby.Instance.CloneFromAsync(primary.AsUpstream(), None);
        await standby.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        Assert.Equal("", await TestEnvironment.QueryAsync<string>(standby.Port, "SELECT current_setting('synchronous_standby_names')"));

        // The keeper writes the primary's configuration (a set naming a standby that does not exist) before promoting.
        await standby.Instance.WriteConfigurationAsync(standby.Instance.Configuration with { SynchronousStandbyNames = "ANY 1 (nobody)" }, None);
        await primary.Instance.StopAsync(StopMode.Fast, None);
        await standby.Instance.PromoteAsync([], None);

        var log = await File.ReadAllLinesAsync(standby.Instance.Options.LogFileFull);
        var setAt = Array.FindIndex(log, line => line.Contains("parameter \"synchronous_standby_names\" changed to \"ANY 1 (nobody)\"", StringComparison.Ordinal));
        var promotedAt = Array.FindIndex(log, line => line.Contains("received promote request", StringComparison.Ordinal));
        Assert.True(promotedAt >= 0, "the server log shows the promotion");
        Assert.True(setAt >= 0 && setAt < promotedAt, $"synchronous_standby_names changed at log line {setAt}, the promotion request at {promotedAt}");

        var commit = TestEnvironment.ExecuteAsync(standby.Port, "INSERT INTO items (tag) VALUES ('unprotected?')");
        await Task.Delay(1000);
        Assert.False(commit.IsCompleted, "the first commit after the promotion must wait for a synchronous standby");
        await standby.Instance.WriteConfigurationAsync(standby.Instance.Configuration with { SynchronousStandbyNames = "" }, None);
        await standby.Instance.ReloadAsync(None);
        await commit.WaitAsync(Patience);
    }

    /// <summary>
    /// A source still in recovery (a new primary whose promotion is not finished) shows a timeline that may lag: a
    /// server on a newer timeline is neither rewound against it nor re-cloned from it, and its directory stays as it is.
    /// </summary>
    [Fact]
    public async Task No_rewind_or_clone_from_a_source_still_in_recovery()
    {
        using var directory = new TempDirectory("not-ready");
        await using var source = await TestNode.FromTemplateAsync(directory, "a");
        await using var local = TestNode.Empty(directory, "b");
        await local.Instance.WriteConfigurationAsync(new PostgresConfiguration { Parameters = TestEnvironment.FastParameters }, None);
        await source.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        await local.Instance.CloneFromAsync(source.AsUpstream(), None);
        await local.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        await local.Instance.PromoteAsync([], None);
        await local.Instance.CheckpointAsync(None);
        await local.Instance.StopAsync(StopMode.Fast, None);

        // The source restarts as a standby: in recovery, on timeline 1, while the local server is on timeline 2.
        await source.Instance.StopAsync(StopMode.Fast, None);
        await source.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        Assert.True((await source.Instance.ProbeAsync(None)).InRecovery);

        var error = await Assert.ThrowsAsync<PgControlException>(() => local.Instance.RewindOrCloneAsync(source.AsUpstream(), null, None));
        Assert.Equal(PgControlError.SourceNotReady, error.Error);
        Assert.Contains("still in recovery", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetDirectories(directory.Path, "b*.old-*"));
        Assert.Equal(2, (await local.Instance.ReadControlDataAsync(None)).CheckpointTimeline);
    }

    /// <summary>When the WAL pg_rewind needs is gone, the old primary is cloned instead and its directory kept aside.</summary>
    [Fact]
    public async Task Rewind_impossible_falls_back_to_a_clone_keeping_the_old_directory()
    {
        using var directory = new TempDirectory("fallback");
        var noKeep = new Dictionary<string, string>(TestEnvironment.FastParameters) { ["wal_keep_size"] = "0", ["min_wal_size"] = "32MB", ["max_wal_size"] = "64MB" };
        await using var primary = await TestNode.FromTemplateAsync(directory, "a", parameters: noKeep);
        await using var standby = TestNode.Empty(directory, "b");
        await standby.Instance.WriteConfigurationAsync(new PostgresConfiguration { Parameters = TestEnvironment.FastParameters }, None);

        await primary.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        await TestEnvironment.ExecuteAsync(primary.Port, "CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL); INSERT INTO items (tag) VALUES ('shared')");
        await standby.Instance.CloneFromAsync(primary.AsUpstream(), None);
        await standby.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        await WaitForRowsAsync(standby, "shared", 1);

        await standby.Instance.PromoteAsync([], None);
        await standby.Instance.CheckpointAsync(None);
        await TestEnvironment.ExecuteAsync(standby.Port, "INSERT INTO items (tag) VALUES ('new-primary')");
        // The old primary writes on, and its WAL from before the fork is recycled away.
        for (var i = 0; i < 4; i++)
        {
            await TestEnvironment.ExecuteAsync(primary.Port, "INSERT INTO items (tag) VALUES ('old-only'); SELECT pg_switch_wal(); CHECKPOINT;");
        }
        await primary.Instance.StopAsync(StopMode.Fast, None);
        var oldSystemIdentifier = (await primary.Instance.ReadControlDataAsync(None)).SystemIdentifier;

        var outcome = await primary.Instance.RewindOrCloneAsync(standby.AsUpstream(), null, None);
        Assert.Equal(DivergenceAction.Cloned, outcome.Action);
        Assert.NotNull(outcome.RewindError);
        Assert.NotNull(outcome.AsidePath);
        Assert.True(File.Exists(Path.Combine(outcome.AsidePath!, "PG_VERSION")), "the old data directory is kept aside");
        Assert.StartsWith(primary.DataDirectory + ".old-", outcome.AsidePath, StringComparison.Ordinal);

        await primary.Instance.StartAsync(ServerRole.Standby, expectedSystemIdentifier: oldSystemIdentifier, cancellationToken: None);
        await WaitForRowsAsync(primary, "new-primary", 1);
        Assert.Equal(0, await CountAsync(primary, "old-only"));
    }

    [Fact]
    public async Task A_failed_clone_leaves_the_data_directory_as_it_was()
    {
        using var directory = new TempDirectory("badclone");
        await using var node = await TestNode.FromTemplateAsync(directory, "keep");
        var before = Directory.GetFileSystemEntries(node.DataDirectory).Order().ToArray();
        var unused = TestEnvironment.FreePort(); // nothing listens there
        var error = await Assert.ThrowsAsync<PgControlException>(() => node.Instance.CloneFromAsync(new UpstreamServer("127.0.0.1", unused), None));
        Assert.Equal(PgControlError.CloneFailed, error.Error);
        Assert.Equal(before, Directory.GetFileSystemEntries(node.DataDirectory).Order().ToArray());
        Assert.Equal([], Directory.GetDirectories(directory.Path).Select(Path.GetFileName).Where(n => n!.StartsWith("keep.", StringComparison.Ordinal)));
        Assert.DoesNotContain(TestEnvironment.ReplicationPassword, error.Message, StringComparison.Ordinal);
        await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        Assert.True((await node.Instance.ProbeAsync(None)).Accepting);
    }
}

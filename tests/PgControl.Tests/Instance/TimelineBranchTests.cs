using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Instance;
using PgRaft.PgControl.Rewind;
using PgRaft.PgControl.Tests.Support;
using PgRaft.PgControl.Wal;

namespace PgRaft.PgControl.Tests.Instance;

/// <summary>
/// Two standbys of one primary that both promote make two timelines 2, told apart only by where each forked: the probe
/// reports each server's fork point from its history file; the later one, started as the earlier one's standby, never
/// streams; and it is re-cloned: pg_rewind sees the same timeline number on both and rewinds nothing.
/// </summary>
public sealed class TimelineBranchTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly CancellationToken None = CancellationToken.None;

    private static Task<long> CountAsync(TestNode node, string tag) =>
        TestEnvironment.QueryAsync<long>(node.Port, $"SELECT count(*) FROM items WHERE tag = '{tag}'");

    private static Task WaitForRowsAsync(TestNode node, string tag, long expected) =>
        TestEnvironment.EventuallyAsync(async () => await CountAsync(node, tag) == expected, Patience, $"{expected} '{tag}' rows on {node.Name}");

    /// <summary>The switch point on the last line of the server's own history file for <paramref name="timeline"/>, read with SQL and split here.</summary>
    private static async Task<Lsn> ForkFromServerAsync(TestNode node, int timeline)
    {
        var text = await TestEnvironment.QueryAsync<string>(node.Port, $"SELECT pg_read_file('pg_wal/{timeline:X8}.history')");
        var last = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last(l => !l.StartsWith('#'));
        return Lsn.Parse(last.Split('\t')[1]);
    }

    [Fact]
    public async Task The_probe_reports_each_branch_fork_point_and_streaming_status_and_a_same_numbered_branch_is_recloned()
    {
        using var directory = new TempDirectory("branch");
        await using var primary = await TestNode.FromTemplateAsync(directory, "p");
        await using var a = TestNode.Empty(directory, "a");
        await using var b = TestNode.Empty(directory, "b");
        await primary.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        await TestEnvironment.ExecuteAsync(primary.Port, "CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL); INSERT INTO items (tag) VALUES ('shared')");
        foreach (var standby in new[] { a, b })
        {
            await standby.Instance.WriteConfigurationAsync(new PostgresConfiguration { Parameters = TestEnvironment.FastParameters }, None);
            await primary.Instance.CreateSlotAsync(standby.Name, None);
            await standby.Instance.CloneFromAsync(primary.AsUpstream(standby.Name), None);
            await standby.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
            await WaitForRowsAsync(standby, "shared", 1);
        }

        // Timeline 1 has no history file; a primary has no WAL receiver; a standby's streams.
        var onTimeline1 = await primary.Instance.ProbeAsync(None);
        Assert.Equal(1, onTimeline1.Timeline);
        Assert.Null(onTimeline1.TimelineFork);
        Assert.Null(onTimeline1.WalReceiverStatus);
        await TestEnvironment.EventuallyAsync(async () => (await a.Instance.ProbeAsync(None)).WalReceiverStatus == "streaming", Patience, "a's WAL receiver streaming");
        Assert.True((await a.Instance.ProbeAsync(None)).Streaming);

        // a promotes first; the primary writes on, b receives it and promotes later: two timelines 2.
        var aReplayed = (await a.Instance.ProbeAsync(None)).ReplayLsn!.Value;
        await a.Instance.PromoteAsync([], None);
        var aPromoted = await a.Instance.ProbeAsync(None);
        Assert.Equal(2, aPromoted.Timeline);
        var aFork = Assert.NotNull(aPromoted.TimelineFork);
        Assert.Equal(await ForkFromServerAsync(a, 2), aFork);
        Assert.True(aFork >= aReplayed && aFork <= aPromoted.FlushLsn!.Value, $"a's fork {aFork} lies between its replay position {aReplayed} and its flush position {aPromoted.FlushLsn}");

        await TestEnvironment.ExecuteAsync(primary.Port, "INSERT INTO items (tag) SELECT 'after-a' FROM generate_series(1, 100)");
        await WaitForRowsAsync(b, "after-a", 100);
        await b.Instance.PromoteAsync([], None);
        var bPromoted = await b.Instance.ProbeAsync(None);
        Assert.Equal(2, bPromoted.Timeline);
        var bFork = Assert.NotNull(bPromoted.TimelineFork);
        Assert.Equal(await ForkFromServerAsync(b, 2), bFork);
        Assert.True(bFork > aFork, $"b forked at {bFork}, after a at {aFork}");
        await primary.Instance.StopAsync(StopMode.Fast, None);

        // Each writes on its own branch; a gets ahead, so by number and position alone b would look like a prefix of a.
        await TestEnvironment.ExecuteAsync(b.Port, "INSERT INTO items (tag) SELECT 'b-only' FROM generate_series(1, 10)");
        await TestEnvironment.ExecuteAsync(a.Port, "INSERT INTO items (tag) SELECT 'a-only' FROM generate_series(1, 5000)");
        await a.Instance.CheckpointAsync(None);
        await b.Instance.StopAsync(StopMode.Fast, None);

        // Started as a's standby as it is, b is stuck: its WAL receiver is restarted at once after each mismatched
        // record, so it never reports streaming (what the keeper's stall rule watches), and replay stands still.
        await b.Instance.FollowAsync(a.AsUpstream(), None);
        await b.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        var stuck = new List<PostgresStatus>();
        for (var i = 0; i < 12; i++)
        {
            await Task.Delay(250);
            stuck.Add(await b.Instance.ProbeAsync(None));
        }

        Assert.All(stuck, status => Assert.False(status.Streaming, $"b reported {status.WalReceiverStatus}"));
        Assert.Single(stuck.Select(status => status.ReplayLsn).Distinct());
        Assert.All(stuck, status => Assert.Equal(bFork, status.TimelineFork));
        await b.Instance.StopAsync(StopMode.Fast, None);

        var assessment = await b.Instance.AssessRewindAsync(a.AsUpstream(), null, None);
        Assert.Equal(RewindDecision.Hopeless, assessment.Decision);
        Assert.Contains("different branches", assessment.Reason, StringComparison.Ordinal);
        var outcome = await b.Instance.RewindOrCloneAsync(a.AsUpstream(), null, None);
        Assert.Equal(DivergenceAction.Cloned, outcome.Action);
        Assert.NotNull(outcome.AsidePath);

        await b.Instance.StartAsync(ServerRole.Standby, cancellationToken: None);
        await WaitForRowsAsync(b, "a-only", 5000);
        Assert.Equal(0, await CountAsync(b, "b-only"));
        Assert.Equal(0, await CountAsync(b, "after-a"));
        await TestEnvironment.EventuallyAsync(async () => (await b.Instance.ProbeAsync(None)).Streaming, Patience, "b streaming from a");
        var rewound = await b.Instance.ProbeAsync(None);
        Assert.Equal(2, rewound.Timeline);
        Assert.Equal(aFork, rewound.TimelineFork);

        // With its source stopped, the standby's WAL receiver no longer streams.
        await a.Instance.StopAsync(StopMode.Fast, None);
        await TestEnvironment.EventuallyAsync(async () => !(await b.Instance.ProbeAsync(None)).Streaming, Patience, "b's WAL receiver to stop streaming");
    }
}

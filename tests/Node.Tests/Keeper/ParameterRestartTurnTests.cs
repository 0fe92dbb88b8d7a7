using System.Collections.Immutable;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Cluster;

namespace PgRaft.Node.Tests.Keeper;

/// <summary>Standbys restart for changed parameters one at a time, so the primary always keeps a synchronous standby.</summary>
public sealed class ParameterRestartTurnTests
{
    private static readonly ClusterState State = ClusterState.Empty with
    {
        Members = new[] { "node1", "node2", "node3" }.ToImmutableSortedDictionary(id => id, id => Fixtures.Member(id), StringComparer.Ordinal),
        View = ClusterView.Empty with { Generation = 4, Primary = "node1" },
    };

    private static NodeHealth Standby(string id, string? pending = null, bool running = true) => new(id, running, PgRole.Standby, running, 0, null, 0.1, pending);

    private static KeeperService.LeaderAnswer Answer(params NodeHealth[] nodes) =>
        new(TimeSpan.FromSeconds(10), [new NodeHealth("node1", true, PgRole.Primary, true, 0, null, 0.1, "shared_buffers"), .. nodes]);

    [Fact]
    public void The_lowest_standby_with_a_pending_restart_goes_first_and_the_other_waits_for_it()
    {
        var answer = Answer(Standby("node2", "shared_buffers"), Standby("node3", "shared_buffers"));
        var now = TimeSpan.FromSeconds(10.2);

        Assert.Null(KeeperService.ParameterRestartTurn("node2", State, answer, now));
        Assert.Equal("node2 restarts first", KeeperService.ParameterRestartTurn("node3", State, answer, now));

        // node2 restarted: its pending restart is gone, so node3's turn comes.
        Assert.Null(KeeperService.ParameterRestartTurn("node3", State, Answer(Standby("node2"), Standby("node3", "shared_buffers")), now));
    }

    [Fact]
    public void No_standby_restarts_while_another_is_down_or_the_leaders_word_is_stale()
    {
        Assert.Equal("node2 is not running healthy", KeeperService.ParameterRestartTurn("node3", State, Answer(Standby("node2", running: false), Standby("node3", "x")), TimeSpan.FromSeconds(10.2)));
        Assert.Contains("no fresh word", KeeperService.ParameterRestartTurn("node2", State, Answer(Standby("node2", "x"), Standby("node3")), TimeSpan.FromSeconds(12)), StringComparison.Ordinal);
        Assert.Contains("no fresh word", KeeperService.ParameterRestartTurn("node2", State, null, TimeSpan.FromSeconds(10.2)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_standby_whose_turn_has_not_come_waits_instead_of_restarting()
    {
        var local = new LocalPostgres(true, true, PgRole.Standby, null, 1, new Lsn(0x5000000), "node1", "", "shared_buffers");
        var state = State with { View = State.View with { Upstreams = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, string>("node2", "node1"), new("node3", "node1")]) } };

        var waiting = Assert.IsType<WaitAction>(KeeperPlanner.Plan(new KeeperSituation("node3", state, local, false, ParameterRestartTurn: "node2 restarts first")));
        Assert.Contains("node2 restarts first", waiting.Reason, StringComparison.Ordinal);
        Assert.IsType<RestartAction>(KeeperPlanner.Plan(new KeeperSituation("node3", state, local, false)));
    }
}

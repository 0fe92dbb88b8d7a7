using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Tests.Keeper;

public sealed class KeeperPlannerTests
{
    private const ulong SystemId = 7_300_000_000_000_000_001;

    private static ClusterState State(string? primary, bool bootstrapped = true, long generation = 3, PendingSwitchover? switchover = null, SyncConfig? primarySync = null) =>
        ClusterState.Empty with
        {
            View = ClusterView.Empty with { Generation = generation, Primary = primary, PrimarySync = primarySync ?? SyncConfig.Async, Sync = primarySync ?? SyncConfig.Async },
            Bootstrap = bootstrapped ? new BootstrapRecord("node1", SystemId, true) : null,
            Switchover = switchover,
        };

    private static LocalPostgres Running(PgRole role, string? upstream = null, string syncNames = "") =>
        new(true, true, role, SystemId, 1, new Lsn(0x5000060), upstream, syncNames);

    private static LocalPostgres Stopped(PgRole role) => new(true, false, role, SystemId, 1, new Lsn(0x5000060), null, "");

    private static KeeperAction Plan(string me, ClusterState state, LocalPostgres local, bool lease = false) =>
        KeeperPlanner.Plan(new KeeperSituation(me, state, local, lease));

    [Fact]
    public void The_bootstrap_primary_initialises_only_with_a_lease()
    {
        Assert.IsType<WaitAction>(Plan("node1", State("node1", bootstrapped: false), LocalPostgres.Missing));
        Assert.IsType<InitializeAction>(Plan("node1", State("node1", bootstrapped: false), LocalPostgres.Missing, lease: true));
    }

    [Fact]
    public void Standbys_wait_for_bootstrap_then_clone_from_their_upstream()
    {
        Assert.IsType<WaitAction>(Plan("node2", State("node1", bootstrapped: false), LocalPostgres.Missing));
        var clone = Assert.IsType<CloneAction>(Plan("node2", State("node1"), LocalPostgres.Missing));
        Assert.Equal("node1", clone.Upstream);
    }

    [Fact]
    public void A_running_primary_that_the_view_no_longer_names_is_fenced_then_rewound()
    {
        Assert.IsType<FenceAction>(Plan("node1", State("node2"), Running(PgRole.Primary), lease: true));
        var rewind = Assert.IsType<RewindAction>(Plan("node1", State("node2"), Stopped(PgRole.Primary)));
        Assert.Equal("node2", rewind.Source);
    }

    [Fact]
    public void A_primary_without_a_lease_is_fenced_and_restarted_in_place_once_it_has_one()
    {
        Assert.IsType<FenceAction>(Plan("node1", State("node1"), Running(PgRole.Primary), lease: false));
        Assert.IsType<WaitAction>(Plan("node1", State("node1"), Stopped(PgRole.Primary), lease: false));
        Assert.IsType<StartPrimaryAction>(Plan("node1", State("node1"), Stopped(PgRole.Primary), lease: true));
    }

    [Fact]
    public void A_standby_named_primary_is_promoted_only_with_a_lease()
    {
        Assert.IsType<WaitAction>(Plan("node2", State("node2"), Running(PgRole.Standby, "node1")));
        Assert.IsType<PromoteAction>(Plan("node2", State("node2"), Running(PgRole.Standby, "node1"), lease: true));
        var start = Assert.IsType<StartStandbyAction>(Plan("node2", State("node2"), Stopped(PgRole.Standby), lease: true));
        Assert.Null(start.Upstream);
    }

    [Fact]
    public void A_standby_follows_the_new_primary()
    {
        var follow = Assert.IsType<FollowAction>(Plan("node3", State("node2"), Running(PgRole.Standby, "node1")));
        Assert.Equal("node2", follow.Upstream);
        Assert.IsType<WaitAction>(Plan("node3", State("node2"), Running(PgRole.Standby, "node2")));
        Assert.IsType<StartStandbyAction>(Plan("node3", State("node2"), Stopped(PgRole.Standby)));
    }

    [Fact]
    public void The_primary_writes_the_sync_set_the_view_asks_for()
    {
        var sync = SyncConfig.Of(1, "node2", "node3");

        var apply = Assert.IsType<ApplySyncAction>(Plan("node1", State("node1", primarySync: sync), Running(PgRole.Primary), lease: true));

        Assert.Equal(sync, apply.Sync);
        Assert.IsType<WaitAction>(Plan("node1", State("node1", primarySync: sync), Running(PgRole.Primary, syncNames: sync.ToSynchronousStandbyNames()), lease: true));
    }

    [Fact]
    public void A_switchover_stops_the_old_primary_and_keeps_it_stopped()
    {
        var switchover = new PendingSwitchover("node1", "node2", 3, SwitchoverPhase.Draining, null, null, DateTimeOffset.UnixEpoch);

        Assert.IsType<StopForSwitchoverAction>(Plan("node1", State("node1", switchover: switchover), Running(PgRole.Primary), lease: true));
        Assert.IsType<WaitAction>(Plan("node1", State("node1", switchover: switchover), Stopped(PgRole.Primary), lease: true));
    }

    [Fact]
    public void A_data_directory_of_another_cluster_is_never_started()
    {
        var foreign = Stopped(PgRole.Standby) with { SystemIdentifier = 42 };

        Assert.IsType<CloneAction>(Plan("node2", State("node1"), foreign));
        Assert.IsType<FenceAction>(Plan("node2", State("node1"), foreign with { Running = true }));
    }

    [Fact]
    public void Writes_are_never_enabled_without_a_lease_and_an_old_primary_never_keeps_running()
    {
        var nodes = new[] { "node1", "node2", "node3" };
        var situations =
            from me in Gen.Elements(nodes)
            from primary in Gen.Elements<string?>([null, .. nodes])
            from bootstrapped in ArbMap.Default.GeneratorFor<bool>()
            from initialized in ArbMap.Default.GeneratorFor<bool>()
            from running in ArbMap.Default.GeneratorFor<bool>()
            from role in Gen.Elements(PgRole.Primary, PgRole.Standby)
            from upstream in Gen.Elements<string?>([null, .. nodes])
            from lease in ArbMap.Default.GeneratorFor<bool>()
            from switching in ArbMap.Default.GeneratorFor<bool>()
            select new KeeperSituation(
                me,
                State(primary, bootstrapped, switchover: switching && primary is not null ? new PendingSwitchover(primary, null, 3, SwitchoverPhase.Draining, null, null, DateTimeOffset.UnixEpoch) : null),
                initialized ? new LocalPostgres(true, running, role, SystemId, 1, null, upstream, "") : LocalPostgres.Missing,
                lease);

        Prop.ForAll(situations.ToArbitrary(), situation =>
        {
            var action = KeeperPlanner.Plan(situation);
            var enablesWrites = action is InitializeAction or StartPrimaryAction or PromoteAction;
            var namedPrimary = situation.State.View.Primary == situation.NodeId;
            var runsAsStalePrimary = situation.Local is { Running: true, Role: PgRole.Primary } && !namedPrimary;
            return (!enablesWrites || (situation.HoldsLease && namedPrimary))
                && (!runsAsStalePrimary || action is FenceAction)
                && !string.IsNullOrWhiteSpace(action.Reason);
        }).QuickCheckThrowOnFailure();
    }
    [Fact]
    public void A_standby_restarts_for_parameters_that_need_it_and_the_primary_waits_for_a_switchover()
    {
        var state = State("node1");
        var standby = Running(PgRole.Standby, upstream: "node1") with { PendingRestart = "max_connections, shared_buffers" };
        var restart = Assert.IsType<RestartAction>(Plan("node2", state, standby));
        Assert.Contains("max_connections, shared_buffers", restart.Reason, StringComparison.Ordinal);

        // Following the right upstream comes first; a restart would pick up the old one.
        Assert.IsType<FollowAction>(Plan("node2", state, standby with { Upstream = "node3" }));

        var primary = Running(PgRole.Primary) with { PendingRestart = "shared_buffers" };
        var wait = Assert.IsType<WaitAction>(Plan("node1", state, primary, lease: true));
        Assert.Contains("switchover", wait.Reason, StringComparison.Ordinal);
        Assert.Equal(new WaitAction("primary, converged"), Plan("node1", state, Running(PgRole.Primary), lease: true));
    }
}

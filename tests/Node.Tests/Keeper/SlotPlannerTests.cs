using System.Collections.Immutable;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Sentinel;
using PgRaft.PgControl.Instance;

namespace PgRaft.Node.Tests.Keeper;

public sealed class SlotPlannerTests
{
    /// <summary>node1 primary; node3 replicates from node2 (a cascade), node2 and node4 from the primary.</summary>
    private static ClusterState Cascade(PendingSwitchover? switchover = null)
    {
        var members = ImmutableSortedDictionary.CreateBuilder<string, Member>(StringComparer.Ordinal);
        foreach (var id in new[] { "node1", "node2", "node3", "node4" })
        {
            members[id] = new Member(id, $"{id}:7432", $"{id}:5433", $"{id}:5432", $"{id}:8008", new MemberTags { ReplicateFrom = id == "node3" ? "node2" : null });
        }

        var state = ClusterState.Empty with { Members = members.ToImmutable() };
        return state with
        {
            View = ClusterView.Empty with { Generation = 4, Primary = "node1", Upstreams = UpstreamPlanner.Desired(state, "node1") },
            Switchover = switchover,
        };
    }

    private static PendingSwitchover SwitchoverTo(string target) =>
        new("node1", target, 4, SwitchoverPhase.Draining, null, null, DateTimeOffset.UnixEpoch);

    [Fact]
    public void The_primary_keeps_a_slot_for_every_other_member()
    {
        Assert.Equal(["node2", "node3", "node4"], SlotPlanner.Wanted("node1", Cascade(), runsAsPrimary: true).Order());
    }

    [Fact]
    public void A_standby_keeps_slots_only_for_the_members_that_cascade_from_it()
    {
        Assert.Equal(["node3"], SlotPlanner.Wanted("node2", Cascade(), runsAsPrimary: false));
        Assert.Empty(SlotPlanner.Wanted("node4", Cascade(), runsAsPrimary: false));
    }

    [Fact]
    public void A_switchover_target_makes_every_members_slot_before_it_is_named_primary()
    {
        var state = Cascade(SwitchoverTo("node4"));
        Assert.True(SlotPlanner.IsSwitchoverTarget("node4", state));
        Assert.False(SlotPlanner.IsSwitchoverTarget("node2", state));
        Assert.Equal(["node1", "node2", "node3"], SlotPlanner.Wanted("node4", state, runsAsPrimary: false).Order());
    }

    [Fact]
    public void A_standby_drops_inactive_member_slots_it_does_not_serve_but_never_an_operators_own_slot()
    {
        var state = Cascade();
        var wanted = SlotPlanner.Wanted("node4", state, runsAsPrimary: false);
        // Left over from when node4 was primary (or a cancelled switchover): they would hold WAL on the standby.
        Assert.True(SlotPlanner.MayDrop("node4", state, false, new ReplicationSlot("node2", false, null), wanted));
        Assert.False(SlotPlanner.MayDrop("node4", state, false, new ReplicationSlot("node2", true, null), wanted));
        Assert.False(SlotPlanner.MayDrop("node4", state, false, new ReplicationSlot("backup_tool", false, null), wanted));
        Assert.False(SlotPlanner.MayDrop("node2", state, false, new ReplicationSlot(PostgresInstance.SlotNameFor("node3"), false, null), SlotPlanner.Wanted("node2", state, false)));
    }

    [Fact]
    public void The_primary_drops_any_inactive_physical_slot_no_member_uses()
    {
        var state = Cascade();
        var wanted = SlotPlanner.Wanted("node1", state, runsAsPrimary: true);
        Assert.True(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("gone_member", false, null), wanted));
        Assert.False(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("node3", false, null), wanted));
    }
}

using System.Collections.Immutable;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Sentinel;
using PgRaft.PgControl.Instance;
using PgRaft.PgControl.Wal;

namespace PgRaft.Node.Tests.Keeper;

public sealed class SlotPlannerTests
{
    /// <summary>node1 primary; node3 replicates from node2 (a cascade), node2 and node4 from the primary.</summary>
    private static ClusterState Cascade()
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
        };
    }

    [Fact]
    public void Every_server_keeps_a_slot_for_every_other_member_reserving_wal_only_on_the_primary()
    {
        Assert.Equal(["node2", "node3", "node4"], SlotPlanner.Wanted("node1", Cascade()).Order());
        Assert.Equal(["node1", "node3", "node4"], SlotPlanner.Wanted("node2", Cascade()).Order());
        Assert.True(SlotPlanner.ReserveOnCreate(runsAsPrimary: true));
        Assert.False(SlotPlanner.ReserveOnCreate(runsAsPrimary: false));
    }

    [Fact]
    public void A_standby_drops_member_slots_that_hold_wal_for_nobody_but_never_an_operators_own_slot()
    {
        var state = Cascade();
        var wanted = SlotPlanner.Wanted("node4", state);
        var held = new Lsn(0x5000000);
        // Left over from when node4 was primary: it would hold WAL on the standby; made again without a reservation.
        Assert.True(SlotPlanner.MayDrop("node4", state, false, new ReplicationSlot("node2", false, held), wanted));
        Assert.False(SlotPlanner.MayDrop("node4", state, false, new ReplicationSlot("node2", false, null), wanted));
        Assert.False(SlotPlanner.MayDrop("node4", state, false, new ReplicationSlot("node2", true, held), wanted));
        Assert.False(SlotPlanner.MayDrop("node4", state, false, new ReplicationSlot("backup_tool", false, held), wanted));
        // node3 cascades from node2: its slot there keeps what node3 still needs while it reconnects.
        Assert.False(SlotPlanner.MayDrop("node2", state, false, new ReplicationSlot(PostgresInstance.SlotNameFor("node3"), false, held), SlotPlanner.Wanted("node2", state)));
    }

    [Fact]
    public void The_primary_drops_any_inactive_physical_slot_no_member_uses()
    {
        var state = Cascade();
        var wanted = SlotPlanner.Wanted("node1", state);
        Assert.True(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("gone_member", false, null), wanted));
        Assert.False(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("node3", false, new Lsn(0x5000000)), wanted));
    }

    [Fact]
    public void Permanent_slots_are_kept_on_every_server_reserving_on_the_primary_only()
    {
        var state = Cascade() with { Spec = ClusterSpec.Default with { PermanentSlots = ["archiver"] } };
        Assert.Contains("archiver", SlotPlanner.Wanted("node1", state));
        Assert.Contains("archiver", SlotPlanner.Wanted("node2", state));
        var held = new Lsn(0x5000000);

        // The primary keeps a reserving one, and makes again one a standby made without a reservation (after a promotion).
        Assert.False(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("archiver", false, held), SlotPlanner.Wanted("node1", state)));
        Assert.True(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("archiver", false, null), SlotPlanner.Wanted("node1", state)));
        Assert.Contains("made again reserving", SlotPlanner.DropReason("node1", state, true, new ReplicationSlot("archiver", false, null), SlotPlanner.Wanted("node1", state)), StringComparison.Ordinal);

        // A standby keeps an unreserved one, and makes again without one that holds WAL (left from when it was primary).
        Assert.False(SlotPlanner.MayDrop("node2", state, false, new ReplicationSlot("archiver", false, null), SlotPlanner.Wanted("node2", state)));
        Assert.True(SlotPlanner.MayDrop("node2", state, false, new ReplicationSlot("archiver", false, held), SlotPlanner.Wanted("node2", state)));

        // Never while a consumer streams through it.
        Assert.False(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("archiver", true, null), SlotPlanner.Wanted("node1", state)));
        Assert.False(SlotPlanner.MayDrop("node2", state, false, new ReplicationSlot("archiver", true, held), SlotPlanner.Wanted("node2", state)));
    }

    [Fact]
    public void Ignored_slots_are_never_dropped_by_name_or_prefix_while_other_unknown_ones_go_on_the_primary()
    {
        var state = Cascade() with { Spec = ClusterSpec.Default with { IgnoreSlots = ["backup_tool", "cdc_*"] } };
        var wanted = SlotPlanner.Wanted("node1", state);
        Assert.False(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("backup_tool", false, new Lsn(0x5000000)), wanted));
        Assert.False(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("cdc_orders", false, null), wanted));
        Assert.True(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("backup_tool2", false, null), wanted));
        Assert.True(SlotPlanner.MayDrop("node1", state, true, new ReplicationSlot("cdc", false, null), wanted));
        Assert.Contains("ignoreSlots", SlotPlanner.DropReason("node1", state, true, new ReplicationSlot("cdc", false, null), wanted), StringComparison.Ordinal);
        Assert.DoesNotContain("backup_tool", wanted);

        // Everything ignored: the primary drops no unknown slot at all.
        var all = state with { Spec = ClusterSpec.Default with { IgnoreSlots = ["*"] } };
        Assert.False(SlotPlanner.MayDrop("node1", all, true, new ReplicationSlot("anything", false, null), SlotPlanner.Wanted("node1", all)));
    }
}

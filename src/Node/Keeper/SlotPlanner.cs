using PgRaft.Node.Cluster;
using PgRaft.PgControl.Instance;

namespace PgRaft.Node.Keeper;

/// <summary>
/// Which replication slots a node's PostgreSQL keeps. Every server keeps one per other member, so a promotion (a
/// failover or a switchover) finds them all made and the other standbys stream from it at once. On the primary they
/// reserve WAL; on a standby they are made without (restart_lsn empty until a member streams through one), so they
/// hold nothing back, except for the members that cascade from it (<c>replicateFrom</c>), whose slots fill as they stream.
/// The spec's permanent slots are kept the same way, for the operator's own consumers; ignored slots are never touched.
/// </summary>
internal static class SlotPlanner
{
    public static IReadOnlySet<string> Wanted(string nodeId, ClusterState state) =>
        state.Members.Keys.Where(id => id != nodeId).Select(PostgresInstance.SlotNameFor)
            .Concat(state.Spec.PermanentSlots)
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>Whether a slot made now reserves WAL at once: on the primary only.</summary>
    public static bool ReserveOnCreate(bool runsAsPrimary) => runsAsPrimary;

    /// <summary>
    /// An inactive slot no member needs goes (on the primary any physical slot, as an unused one holds WAL back; on a
    /// standby only member-named ones, so an operator's slot for a tool of their own stays). On a standby an inactive
    /// member slot that holds WAL (left from when this server was primary, or from a cascade that ended) goes too,
    /// to be made again without a reservation. A permanent slot is made again the other way round when it changes sides:
    /// reserving on a new primary (a standby made it without), without on a new standby. Ignored slots never go.
    /// </summary>
    public static bool MayDrop(string nodeId, ClusterState state, bool runsAsPrimary, ReplicationSlot slot, IReadOnlySet<string> wanted) =>
        DropReason(nodeId, state, runsAsPrimary, slot, wanted) is not null;

    /// <summary>Why <paramref name="slot"/> goes (<see cref="MayDrop"/>), for the log; null when it stays.</summary>
    public static string? DropReason(string nodeId, ClusterState state, bool runsAsPrimary, ReplicationSlot slot, IReadOnlySet<string> wanted)
    {
        if (slot.Active || state.Spec.IsIgnoredSlot(slot.Name))
        {
            return null;
        }

        if (state.Spec.PermanentSlots.Contains(slot.Name))
        {
            return (runsAsPrimary, slot.RestartLsn) switch
            {
                (true, null) => "permanent slot without a WAL reservation on the primary; made again reserving",
                (false, not null) => "permanent slot holding WAL on a standby; made again without",
                _ => null,
            };
        }

        if (runsAsPrimary)
        {
            return wanted.Contains(slot.Name)
                ? null
                : "inactive, and neither a member's nor in permanentSlots/ignoreSlots (it would hold WAL for nobody); list it in ignoreSlots to keep such a slot";
        }

        var member = state.Members.Keys.FirstOrDefault(id => id != nodeId && PostgresInstance.SlotNameFor(id) == slot.Name);
        if (member is null)
        {
            return null;
        }

        if (!wanted.Contains(slot.Name))
        {
            return "not needed on this server";
        }

        return slot.RestartLsn is not null && state.View.UpstreamOf(member) != nodeId ? "member slot holding WAL on a standby; made again without" : null;
    }
}

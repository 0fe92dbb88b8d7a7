using PgRaft.Node.Cluster;
using PgRaft.PgControl.Instance;

namespace PgRaft.Node.Keeper;

/// <summary>
/// Which replication slots a node's PostgreSQL keeps. Every server keeps one per other member, so a promotion (a
/// failover or a switchover) finds them all made and the other standbys stream from it at once. On the primary they
/// reserve WAL; on a standby they are made without (restart_lsn empty until a member streams through one), so they
/// hold nothing back, except for the members that cascade from it (<c>replicateFrom</c>), whose slots fill as they stream.
/// </summary>
internal static class SlotPlanner
{
    public static IReadOnlySet<string> Wanted(string nodeId, ClusterState state) =>
        state.Members.Keys.Where(id => id != nodeId).Select(PostgresInstance.SlotNameFor).ToHashSet(StringComparer.Ordinal);

    /// <summary>Whether a slot made now reserves WAL at once: on the primary only.</summary>
    public static bool ReserveOnCreate(bool runsAsPrimary) => runsAsPrimary;

    /// <summary>
    /// An inactive slot no member needs goes (on the primary any physical slot, as an unused one holds WAL back; on a
    /// standby only member-named ones, so an operator's slot for a tool of their own stays). On a standby an inactive
    /// member slot that holds WAL (left from when this server was primary, or from a cascade that ended) goes too,
    /// to be made again without a reservation.
    /// </summary>
    public static bool MayDrop(string nodeId, ClusterState state, bool runsAsPrimary, ReplicationSlot slot, IReadOnlySet<string> wanted)
    {
        if (slot.Active)
        {
            return false;
        }

        if (runsAsPrimary)
        {
            return !wanted.Contains(slot.Name);
        }

        var member = state.Members.Keys.FirstOrDefault(id => id != nodeId && PostgresInstance.SlotNameFor(id) == slot.Name);
        return member is not null && (!wanted.Contains(slot.Name) || (slot.RestartLsn is not null && state.View.UpstreamOf(member) != nodeId));
    }
}

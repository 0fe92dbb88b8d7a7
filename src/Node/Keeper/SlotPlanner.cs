using PgRaft.Node.Cluster;
using PgRaft.PgControl.Instance;

namespace PgRaft.Node.Keeper;

/// <summary>Which replication slots a node's PostgreSQL keeps, and which of the others it may drop.</summary>
internal static class SlotPlanner
{
    /// <summary>
    /// A slot for every member that streams, or is about to stream, from this server: all others on the primary and on
    /// a pending switchover's target; on another standby the members whose view upstream it is (<c>replicateFrom</c>).
    /// </summary>
    public static IReadOnlySet<string> Wanted(string nodeId, ClusterState state, bool runsAsPrimary)
    {
        var forAll = runsAsPrimary || IsSwitchoverTarget(nodeId, state);
        return state.Members.Keys
            .Where(id => id != nodeId && (forAll || state.View.UpstreamOf(id) == nodeId))
            .Select(PostgresInstance.SlotNameFor)
            .ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// An inactive slot not wanted holds WAL back and goes. The primary manages every physical slot (as before); a
    /// standby drops only member-named ones, so a slot an operator made there for a tool of their own stays.
    /// </summary>
    public static bool MayDrop(string nodeId, ClusterState state, bool runsAsPrimary, ReplicationSlot slot, IReadOnlySet<string> wanted) =>
        !slot.Active && !wanted.Contains(slot.Name)
        && (runsAsPrimary || state.Members.Keys.Any(id => id != nodeId && PostgresInstance.SlotNameFor(id) == slot.Name));

    public static bool IsSwitchoverTarget(string nodeId, ClusterState state) =>
        state.View.Primary != nodeId && state.Switchover is { To: { } to } && to == nodeId;
}

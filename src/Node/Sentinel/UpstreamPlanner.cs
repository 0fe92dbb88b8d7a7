using System.Collections.Immutable;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Sentinel;

/// <summary>Whom each standby follows: its <c>replicateFrom</c> member when that leads to the primary without a loop, else the primary.</summary>
internal static class UpstreamPlanner
{
    public static ImmutableSortedDictionary<string, string> Desired(ClusterState state, string primary)
    {
        var upstreams = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var member in state.Members.Values)
        {
            if (member.NodeId != primary)
            {
                upstreams[member.NodeId] = Resolve(state, primary, member.NodeId);
            }
        }

        return upstreams.ToImmutable();
    }

    private static string Resolve(ClusterState state, string primary, string nodeId)
    {
        var wanted = state.Members[nodeId].Tags.ReplicateFrom;
        if (wanted is null || wanted == nodeId || !state.Members.ContainsKey(wanted))
        {
            return primary;
        }

        // Follow the chain: it must end at the primary (or at a member that follows the primary) without a loop.
        var visited = new HashSet<string>(StringComparer.Ordinal) { nodeId };
        var current = wanted;
        while (current != primary)
        {
            if (!visited.Add(current))
            {
                return primary;
            }

            var next = state.Members[current].Tags.ReplicateFrom;
            if (next is null || next == current || !state.Members.ContainsKey(next))
            {
                break;
            }

            current = next;
        }

        return wanted;
    }
}

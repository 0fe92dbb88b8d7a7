using System.Collections.Immutable;
using System.Text;
using System.Text.Json.Serialization;

namespace PgRaft.Node.Cluster;

/// <summary>
/// A synchronous replication configuration: <c>ANY Quorum (Standbys)</c>. Quorum 0 (or no standbys) means asynchronous.
/// </summary>
internal sealed record SyncConfig(ImmutableSortedSet<string> Standbys, int Quorum)
{
    public static SyncConfig Async { get; } = new(ImmutableSortedSet.Create<string>(StringComparer.Ordinal), 0);

    public static SyncConfig Of(int quorum, params IEnumerable<string> standbys) =>
        new(standbys.ToImmutableSortedSet(StringComparer.Ordinal), quorum);

    [JsonIgnore]
    public bool IsAsync => Quorum == 0 || Standbys.IsEmpty;

    /// <summary>
    /// True when a failover check made against this configuration is safe for a primary running <paramref name="actual"/>:
    /// every commit <paramref name="actual"/> acknowledged is on at least one of any
    /// <c>|Standbys| - Quorum + 1</c> members of this set. Holds when actual's set is a subset and its quorum is not smaller.
    /// </summary>
    public bool Dominates(SyncConfig actual) =>
        actual.IsAsync ? Quorum == 0 : actual.Standbys.IsSubsetOf(Standbys) && actual.Quorum >= Quorum;

    /// <summary>How many members' positions a failover must compare: n - k + 1 (more than n when nothing is guaranteed).</summary>
    [JsonIgnore]
    public int MembersToCompare => Quorum == 0 ? Standbys.Count + 1 : Standbys.Count - Quorum + 1;

    /// <summary>The value for PostgreSQL's <c>synchronous_standby_names</c>; application names are the node ids.</summary>
    public string ToSynchronousStandbyNames()
    {
        if (IsAsync)
        {
            return string.Empty;
        }

        var text = new StringBuilder();
        text.Append("ANY ").Append(Math.Min(Quorum, Standbys.Count)).Append(" (");
        var first = true;
        foreach (var name in Standbys)
        {
            if (!first)
            {
                text.Append(", ");
            }

            first = false;
            text.Append('"').Append(name.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
        }

        return text.Append(')').ToString();
    }

    public override string ToString() => IsAsync ? "async" : $"ANY {Quorum} ({string.Join(", ", Standbys)})";

    public bool Equals(SyncConfig? other) =>
        other is not null && Quorum == other.Quorum && CollectionEquality.SetEquals(Standbys, other.Standbys);

    public override int GetHashCode() => HashCode.Combine(Quorum, Standbys.Count);
}

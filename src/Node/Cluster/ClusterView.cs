using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace PgRaft.Node.Cluster;

/// <summary>
/// Who is primary and how the others replicate. <see cref="Generation"/> rises by one on every change.
/// <para>
/// <see cref="Sync"/> is the committed sync set (DESIGN §8): it always dominates what the primary may have in
/// <c>synchronous_standby_names</c> (a superset, with a quorum no larger), so a failover check against it is safe.
/// <see cref="PrimarySync"/> is what the primary's keeper must write; it differs from <see cref="Sync"/> only while a
/// member is being dropped (or the quorum raised) and the keeper has not yet reported that it applied the change.
/// </para>
/// </summary>
internal sealed record ClusterView(
    long Generation,
    string? Primary,
    SyncConfig Sync,
    SyncConfig PrimarySync,
    ImmutableSortedDictionary<string, string> Upstreams)
{
    public static ClusterView Empty { get; } =
        new(0, null, SyncConfig.Async, SyncConfig.Async, ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal));

    [JsonIgnore]
    public ImmutableSortedSet<string> SyncStandbys => Sync.Standbys;

    /// <summary>The node a standby follows: its entry in <see cref="Upstreams"/>, else the primary.</summary>
    public string? UpstreamOf(string nodeId) =>
        nodeId == Primary ? null : Upstreams.TryGetValue(nodeId, out var upstream) ? upstream : Primary;

    public bool Equals(ClusterView? other) =>
        other is not null && Generation == other.Generation && Primary == other.Primary
        && Sync.Equals(other.Sync) && PrimarySync.Equals(other.PrimarySync)
        && CollectionEquality.DictionaryEquals(Upstreams, other.Upstreams);

    public override int GetHashCode() => HashCode.Combine(Generation, Primary);
}

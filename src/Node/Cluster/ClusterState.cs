using System.Collections.Immutable;

namespace PgRaft.Node.Cluster;

/// <summary>The whole replicated cluster state (DESIGN §4): what the applied Raft log says. Immutable.</summary>
internal sealed record ClusterState(
    ClusterSpec Spec,
    ImmutableSortedDictionary<string, Member> Members,
    ClusterView View,
    ImmutableList<HistoryEntry> History,
    BootstrapRecord? Bootstrap,
    PendingSwitchover? Switchover)
{
    public static ClusterState Empty { get; } = new(
        ClusterSpec.Default,
        ImmutableSortedDictionary.Create<string, Member>(StringComparer.Ordinal),
        ClusterView.Empty,
        [],
        null,
        null);

    public bool Equals(ClusterState? other) =>
        other is not null
        && Spec.Equals(other.Spec)
        && CollectionEquality.DictionaryEquals(Members, other.Members)
        && View.Equals(other.View)
        && CollectionEquality.SequenceEquals(History, other.History)
        && Equals(Bootstrap, other.Bootstrap)
        && Equals(Switchover, other.Switchover);

    public override int GetHashCode() => HashCode.Combine(View.Generation, Members.Count, History.Count);
}

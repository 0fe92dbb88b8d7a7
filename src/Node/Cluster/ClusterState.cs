using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace PgRaft.Node.Cluster;

/// <summary>The whole replicated cluster state (DESIGN §4): what the applied Raft log says. Immutable.</summary>
/// <remarks>The parameters after <see cref="Switchover"/> have defaults, so snapshots written before they existed still decode.</remarks>
internal sealed record ClusterState(
    ClusterSpec Spec,
    ImmutableSortedDictionary<string, Member> Members,
    ClusterView View,
    ImmutableList<HistoryEntry> History,
    BootstrapRecord? Bootstrap,
    PendingSwitchover? Switchover,
    PendingFailover? Failover = null,
    ImmutableSortedDictionary<string, NodeOperation>? Operations = null,
    long LastOperationId = 0,
    ImmutableList<OperationNotice>? Notices = null)
{
    private static readonly ImmutableSortedDictionary<string, NodeOperation> NoOperations = ImmutableSortedDictionary.Create<string, NodeOperation>(StringComparer.Ordinal);

    public static ClusterState Empty { get; } = new(
        ClusterSpec.Default,
        ImmutableSortedDictionary.Create<string, Member>(StringComparer.Ordinal),
        ClusterView.Empty,
        [],
        null,
        null);

    /// <summary>The operator requests (restart, reinit) waiting for a node's keeper, by node.</summary>
    [JsonIgnore]
    public ImmutableSortedDictionary<string, NodeOperation> PendingOperations => Operations ?? NoOperations;

    /// <summary>How many notices the state keeps: enough for every command waiting on one, while the log stays small.</summary>
    public const int NoticesKept = 20;

    /// <summary>How the latest operator requests ended, oldest first.</summary>
    [JsonIgnore]
    public ImmutableList<OperationNotice> RecentNotices => Notices ?? [];

    [JsonIgnore]
    public OperationNotice? LastNotice => RecentNotices.IsEmpty ? null : RecentNotices[^1];

    /// <summary>This state with one more notice (the oldest dropped beyond <see cref="NoticesKept"/>).</summary>
    public ClusterState WithNotice(string operation, bool succeeded, string message, long? operationId = null)
    {
        var notices = RecentNotices.Add(new OperationNotice((LastNotice?.Sequence ?? 0) + 1, operation, succeeded, message, operationId));
        return this with { Notices = notices.Count > NoticesKept ? notices.RemoveRange(0, notices.Count - NoticesKept) : notices };
    }

    public bool Equals(ClusterState? other) =>
        other is not null
        && Spec.Equals(other.Spec)
        && CollectionEquality.DictionaryEquals(Members, other.Members)
        && View.Equals(other.View)
        && CollectionEquality.SequenceEquals(History, other.History)
        && Equals(Bootstrap, other.Bootstrap)
        && Equals(Switchover, other.Switchover)
        && Equals(Failover, other.Failover)
        && CollectionEquality.DictionaryEquals(PendingOperations, other.PendingOperations)
        && LastOperationId == other.LastOperationId
        && CollectionEquality.SequenceEquals(RecentNotices, other.RecentNotices);

    public override int GetHashCode() => HashCode.Combine(View.Generation, Members.Count, History.Count);
}

using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace PgRaft.Node.Cluster;

/// <summary>A log entry of the cluster state machine. Serialised as JSON with a <c>type</c> discriminator.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(SetSpec), "setSpec")]
[JsonDerivedType(typeof(PatchSpec), "patchSpec")]
[JsonDerivedType(typeof(AddMember), "addMember")]
[JsonDerivedType(typeof(UpdateMember), "updateMember")]
[JsonDerivedType(typeof(RemoveMember), "removeMember")]
[JsonDerivedType(typeof(ChangeView), "changeView")]
[JsonDerivedType(typeof(RecordBootstrap), "recordBootstrap")]
[JsonDerivedType(typeof(RecordPostBootstrapScriptDone), "recordPostBootstrapScriptDone")]
[JsonDerivedType(typeof(Pause), "pause")]
[JsonDerivedType(typeof(Resume), "resume")]
[JsonDerivedType(typeof(RequestSwitchover), "requestSwitchover")]
[JsonDerivedType(typeof(SwitchoverStopped), "switchoverStopped")]
[JsonDerivedType(typeof(CancelSwitchover), "cancelSwitchover")]
[JsonDerivedType(typeof(RecordTimelineBranch), "recordTimelineBranch")]
[JsonDerivedType(typeof(RequestFailover), "requestFailover")]
[JsonDerivedType(typeof(CancelFailover), "cancelFailover")]
[JsonDerivedType(typeof(RequestNodeOperation), "requestNodeOperation")]
[JsonDerivedType(typeof(CompleteNodeOperation), "completeNodeOperation")]
internal abstract record ClusterCommand;

/// <summary>Replaces the whole spec.</summary>
internal sealed record SetSpec(ClusterSpec Spec) : ClusterCommand;

/// <summary>Changes only the settings that are given.</summary>
internal sealed record PatchSpec(SpecPatch Patch) : ClusterCommand;

internal sealed record SpecPatch
{
    public TimeSpan? Tick { get; init; }
    public TimeSpan? FailTimeout { get; init; }
    public TimeSpan? LeaseTimeout { get; init; }
    public TimeSpan? DriftMargin { get; init; }
    public TimeSpan? FenceMargin { get; init; }
    public TimeSpan? ProxyHoldTimeout { get; init; }
    public TimeSpan? SwitchoverTimeout { get; init; }
    public ReplicationMode? Mode { get; init; }
    public int? SyncStandbyCount { get; init; }
    public long? MaxLagOnFailover { get; init; }
    public long? MaxReplicaLag { get; init; }

    /// <summary>Parameters to set; a null value removes the parameter.</summary>
    public ImmutableSortedDictionary<string, string?>? PostgresParameters { get; init; }

    public ImmutableList<string>? ExtraHbaLines { get; init; }
    public ImmutableList<string>? PermanentSlots { get; init; }
    public ImmutableList<string>? IgnoreSlots { get; init; }
    public bool? ReadOnlyFallbackToPrimary { get; init; }

    public ClusterSpec ApplyTo(ClusterSpec spec)
    {
        var parameters = spec.PostgresParameters;
        foreach (var (name, value) in PostgresParameters ?? ImmutableSortedDictionary<string, string?>.Empty)
        {
            parameters = value is null ? parameters.Remove(name) : parameters.SetItem(name, value);
        }

        return spec with
        {
            Tick = Tick ?? spec.Tick,
            FailTimeout = FailTimeout ?? spec.FailTimeout,
            LeaseTimeout = LeaseTimeout ?? spec.LeaseTimeout,
            DriftMargin = DriftMargin ?? spec.DriftMargin,
            FenceMargin = FenceMargin ?? spec.FenceMargin,
            ProxyHoldTimeout = ProxyHoldTimeout ?? spec.ProxyHoldTimeout,
            SwitchoverTimeout = SwitchoverTimeout ?? spec.SwitchoverTimeout,
            Mode = Mode ?? spec.Mode,
            SyncStandbyCount = SyncStandbyCount ?? spec.SyncStandbyCount,
            MaxLagOnFailover = MaxLagOnFailover ?? spec.MaxLagOnFailover,
            MaxReplicaLag = MaxReplicaLag ?? spec.MaxReplicaLag,
            PostgresParameters = parameters,
            ExtraHbaLines = ExtraHbaLines ?? spec.ExtraHbaLines,
            PermanentSlots = PermanentSlots ?? spec.PermanentSlots,
            IgnoreSlots = IgnoreSlots ?? spec.IgnoreSlots,
            ReadOnlyFallbackToPrimary = ReadOnlyFallbackToPrimary ?? spec.ReadOnlyFallbackToPrimary,
        };
    }
}

internal sealed record AddMember(Member Member) : ClusterCommand;

internal sealed record UpdateMember(Member Member) : ClusterCommand;

internal sealed record RemoveMember(string NodeId) : ClusterCommand;

/// <summary>
/// Replaces the view. Compare-and-set: applied only when the current generation is <see cref="ExpectedGeneration"/>,
/// and <see cref="View"/> must carry generation <c>ExpectedGeneration + 1</c>. A change of primary carries its history entry.
/// </summary>
internal sealed record ChangeView(long ExpectedGeneration, ClusterView View, HistoryEntry? History) : ClusterCommand;

/// <summary>The primary named by the view initialised the data directory and got this system identifier.</summary>
internal sealed record RecordBootstrap(string NodeId, ulong SystemIdentifier) : ClusterCommand;

internal sealed record RecordPostBootstrapScriptDone(string NodeId) : ClusterCommand;

/// <summary>Maintenance mode: no automatic failover.</summary>
internal sealed record Pause : ClusterCommand;

internal sealed record Resume : ClusterCommand;

/// <summary>An operator asks the primary of generation <see cref="ExpectedGeneration"/> to hand over to <see cref="To"/> (null: the best standby).</summary>
internal sealed record RequestSwitchover(long ExpectedGeneration, string? To, DateTimeOffset RequestedAt) : ClusterCommand;

/// <summary>The old primary of a switchover stopped writing at <see cref="FinalLsn"/> on <see cref="Timeline"/> (seen by the leader at <see cref="StoppedAt"/>, its wall clock).</summary>
internal sealed record SwitchoverStopped(long Generation, Lsn FinalLsn, int Timeline, DateTimeOffset StoppedAt) : ClusterCommand;

internal sealed record CancelSwitchover(string Reason) : ClusterCommand;

/// <summary>
/// The primary named at <see cref="Generation"/> (<see cref="NodeId"/>) reported healthy on <see cref="Branch"/>: recorded
/// in that change's history entry, so keepers can tell a standby on a same-numbered timeline of its own from one on the
/// primary's.
/// </summary>
internal sealed record RecordTimelineBranch(long Generation, string NodeId, TimelineBranch Branch) : ClusterCommand;

/// <summary>
/// An operator asks to replace the primary of generation <see cref="ExpectedGeneration"/> at once with <see cref="To"/>
/// (null: the best standby), the safety rules of a failover still applying (<see cref="PendingFailover"/>).
/// </summary>
internal sealed record RequestFailover(long ExpectedGeneration, string? To, DateTimeOffset RequestedAt) : ClusterCommand;

internal sealed record CancelFailover(string Reason) : ClusterCommand;

/// <summary>An operator asks <see cref="NodeId"/>'s keeper to restart or re-clone its PostgreSQL; it replaces any earlier request for that node.</summary>
internal sealed record RequestNodeOperation(string NodeId, NodeOperationKind Kind, DateTimeOffset RequestedAt) : ClusterCommand;

/// <summary>Operation <see cref="Id"/> on <see cref="NodeId"/> ended: its keeper carried it out (or failed), or the sentinel gave it up.</summary>
internal sealed record CompleteNodeOperation(string NodeId, long Id, bool Succeeded, string Message) : ClusterCommand;

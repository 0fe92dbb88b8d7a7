using System.Collections.Immutable;

namespace PgRaft.Node.Cluster;

internal enum ReplicationMode
{
    /// <summary>Asynchronous streaming; a failover may lose up to <see cref="ClusterSpec.MaxLagOnFailover"/> bytes.</summary>
    Async = 0,

    /// <summary>Synchronous; drops to asynchronous when no standby is left, so writes continue.</summary>
    Sync = 1,

    /// <summary>Synchronous; keeps the set when no standby is left, so writes block instead.</summary>
    SyncStrict = 2,
}

/// <summary>The user's settings for the whole cluster (DESIGN §4, §10).</summary>
internal sealed record ClusterSpec
{
    public TimeSpan Tick { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The primary is failed when its reports are missing or unhealthy this long.</summary>
    public TimeSpan FailTimeout { get; init; } = TimeSpan.FromMilliseconds(1000);

    /// <summary>How long a granted lease lasts, counted from the keeper's send time.</summary>
    public TimeSpan LeaseTimeout { get; init; } = TimeSpan.FromMilliseconds(1500);

    /// <summary>Extra wait for clock-rate differences before a new primary may be promoted.</summary>
    public TimeSpan DriftMargin { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The keeper starts fencing this long before its lease deadline.</summary>
    public TimeSpan FenceMargin { get; init; } = TimeSpan.FromMilliseconds(300);

    public TimeSpan ProxyHoldTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A planned switchover that has not completed after this long is cancelled.</summary>
    public TimeSpan SwitchoverTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public ReplicationMode Mode { get; init; } = ReplicationMode.Sync;

    /// <summary>k in <c>ANY k (all eligible standbys)</c>.</summary>
    public int SyncStandbyCount { get; init; } = 1;

    /// <summary>In async mode, the most a candidate may lag the old primary (bytes).</summary>
    public long MaxLagOnFailover { get; init; } = 1024 * 1024;

    /// <summary>The most a standby may lag to serve the read-only port (bytes).</summary>
    public long MaxReplicaLag { get; init; } = 16 * 1024 * 1024;

    public ImmutableSortedDictionary<string, string> PostgresParameters { get; init; } =
        ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    public ImmutableList<string> ExtraHbaLines { get; init; } = [];

    /// <summary>
    /// Physical slots for the operator's own consumers (pg_receivewal, a backup or CDC tool): every server keeps them, the
    /// primary's reserve WAL, and they move with the primary on a failover. Patroni's permanent slots.
    /// </summary>
    public ImmutableList<string> PermanentSlots { get; init; } = [];

    /// <summary>
    /// Physical slots PgRaft never drops nor makes: exact names, or a prefix ending in <c>*</c>. Any other inactive slot
    /// no member or permanent entry uses is dropped on the primary, as it holds WAL back for nobody (Patroni's ignore_slots).
    /// </summary>
    public ImmutableList<string> IgnoreSlots { get; init; } = [];

    /// <summary>Maintenance: no automatic failover.</summary>
    public bool Paused { get; init; }

    /// <summary>The read-only port sends clients to the primary when no standby qualifies.</summary>
    public bool ReadOnlyFallbackToPrimary { get; init; } = true;

    public static ClusterSpec Default { get; } = new();

    public bool IsSynchronous => Mode != ReplicationMode.Async;

    /// <summary>Every problem with this spec, each naming the setting and how to fix it; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Positive(TimeSpan value, string name)
        {
            if (value <= TimeSpan.Zero)
            {
                errors.Add($"{name} must be positive (it is {value.TotalMilliseconds} ms)");
            }
        }

        Positive(Tick, "tick");
        Positive(FailTimeout, "failTimeout");
        Positive(LeaseTimeout, "leaseTimeout");
        Positive(ProxyHoldTimeout, "proxyHoldTimeout");
        Positive(SwitchoverTimeout, "switchoverTimeout");
        if (DriftMargin < TimeSpan.Zero)
        {
            errors.Add("driftMargin must not be negative");
        }

        if (FenceMargin < TimeSpan.Zero || FenceMargin >= LeaseTimeout)
        {
            errors.Add($"fenceMargin must be at least 0 and below leaseTimeout ({LeaseTimeout.TotalMilliseconds} ms)");
        }

        if (!Enum.IsDefined(Mode))
        {
            errors.Add("mode must be async, sync or syncStrict");
        }

        if (SyncStandbyCount < 1)
        {
            errors.Add("syncStandbyCount must be at least 1");
        }

        if (MaxLagOnFailover < 0)
        {
            errors.Add("maxLagOnFailover must not be negative");
        }

        if (MaxReplicaLag < 0)
        {
            errors.Add("maxReplicaLag must not be negative");
        }

        foreach (var (name, value) in PostgresParameters)
        {
            if (string.IsNullOrWhiteSpace(name) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.'))
            {
                errors.Add($"PostgreSQL parameter name '{name}' is not valid (letters, digits, '_' and '.' only)");
            }

            if (value is null || value.Contains('\n', StringComparison.Ordinal) || value.Contains('\r', StringComparison.Ordinal))
            {
                errors.Add($"PostgreSQL parameter '{name}' must have a single-line value");
            }
        }

        foreach (var line in ExtraHbaLines)
        {
            if (string.IsNullOrWhiteSpace(line) || line.Contains('\n', StringComparison.Ordinal) || line.Contains('\r', StringComparison.Ordinal))
            {
                errors.Add("every extra pg_hba line must be one non-empty line");
            }
        }

        foreach (var name in PermanentSlots.Where(n => !IsSlotName(n)))
        {
            errors.Add($"permanent slot '{name}' is not a slot name: 1-63 characters of a-z, 0-9 and '_'");
        }

        foreach (var name in PermanentSlots.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            errors.Add($"permanent slot '{name.Key}' is listed twice");
        }

        foreach (var pattern in IgnoreSlots.Where(p => !IsSlotName(p.EndsWith('*') ? p[..^1] : p) && p != "*"))
        {
            errors.Add($"ignored slot '{pattern}' is not a slot name or a prefix ending in '*' (a-z, 0-9 and '_')");
        }

        foreach (var name in PermanentSlots.Where(IsIgnoredSlot))
        {
            errors.Add($"slot '{name}' is both permanent and ignored: PgRaft cannot keep a slot it must leave alone; take it out of one list");
        }

        return errors;
    }

    /// <summary>Whether <paramref name="slot"/> matches an <see cref="IgnoreSlots"/> entry.</summary>
    public bool IsIgnoredSlot(string slot) =>
        IgnoreSlots.Any(p => p.EndsWith('*') ? slot.StartsWith(p[..^1], StringComparison.Ordinal) : slot == p);

    private static bool IsSlotName(string name) => name.Length is > 0 and <= 63 && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_');

    public bool Equals(ClusterSpec? other) =>
        other is not null
        && Tick == other.Tick && FailTimeout == other.FailTimeout && LeaseTimeout == other.LeaseTimeout
        && DriftMargin == other.DriftMargin && FenceMargin == other.FenceMargin && ProxyHoldTimeout == other.ProxyHoldTimeout
        && SwitchoverTimeout == other.SwitchoverTimeout && Mode == other.Mode && SyncStandbyCount == other.SyncStandbyCount
        && MaxLagOnFailover == other.MaxLagOnFailover && MaxReplicaLag == other.MaxReplicaLag
        && CollectionEquality.DictionaryEquals(PostgresParameters, other.PostgresParameters)
        && CollectionEquality.SequenceEquals(ExtraHbaLines, other.ExtraHbaLines)
        && CollectionEquality.SequenceEquals(PermanentSlots, other.PermanentSlots)
        && CollectionEquality.SequenceEquals(IgnoreSlots, other.IgnoreSlots)
        && Paused == other.Paused && ReadOnlyFallbackToPrimary == other.ReadOnlyFallbackToPrimary;

    public override int GetHashCode() => HashCode.Combine(FailTimeout, LeaseTimeout, Mode, SyncStandbyCount, Paused);
}

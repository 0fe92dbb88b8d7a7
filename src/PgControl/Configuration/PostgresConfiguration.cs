namespace PgRaft.PgControl.Configuration;

/// <summary>The settings the caller wants for the local server (apart from its role, which the instance tracks).</summary>
internal sealed record PostgresConfiguration
{
    /// <summary>User parameters (name → value), e.g. from the cluster spec. Values are written quoted.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();

    /// <summary>synchronous_standby_names on a primary, e.g. <c>ANY 1 ("node2", "node3")</c>; empty for async.</summary>
    public string SynchronousStandbyNames { get; init; } = "";

    /// <summary>Addresses (IP, CIDR or host name) of the cluster members: they may replicate and connect (proxies, pg_rewind).</summary>
    public IReadOnlyList<string> MemberAddresses { get; init; } = [];

    /// <summary>Extra pg_hba.conf lines, placed after the managed ones.</summary>
    public IReadOnlyList<string> ExtraHbaLines { get; init; } = [];
}

/// <summary>The upstream a standby streams from.</summary>
internal sealed record UpstreamServer(string Host, int Port, string? SlotName = null)
{
    public override string ToString() => SlotName is null ? $"{Host}:{Port}" : $"{Host}:{Port} (slot {SlotName})";
}

/// <summary>What a configuration write changed and what it takes to apply it.</summary>
internal sealed record ConfigurationChange(
    IReadOnlyList<string> ChangedParameters,
    bool HbaChanged,
    IReadOnlyList<string> RestartRequiredFor)
{
    public static readonly ConfigurationChange None = new([], false, []);

    public bool ReloadNeeded => ChangedParameters.Count > 0 || HbaChanged;
    public bool RestartNeeded => RestartRequiredFor.Count > 0;
}

namespace PgRaft.Node.Cluster;

/// <summary>Per-node tags that steer the sentinel and the proxy.</summary>
internal sealed record MemberTags
{
    /// <summary>Never promote this node.</summary>
    public bool NoFailover { get; init; }

    /// <summary>Never send read-only clients here.</summary>
    public bool NoLoadBalance { get; init; }

    /// <summary>Never make this node a synchronous standby.</summary>
    public bool NoSync { get; init; }

    /// <summary>Higher wins among candidates at the same WAL position.</summary>
    public int Priority { get; init; }

    /// <summary>Stream from this member instead of the primary (cascading replication).</summary>
    public string? ReplicateFrom { get; init; }

    public static MemberTags None { get; } = new();
}

/// <summary>One node of the cluster and where to reach its parts.</summary>
internal sealed record Member(
    string NodeId,
    string RaftAddress,
    string PostgresAddress,
    string ProxyAddress,
    string ApiAddress,
    MemberTags Tags)
{
    public const int MaxNodeIdLength = 63;

    /// <summary>Node ids name replication slots and application names, so they are kept to a safe alphabet.</summary>
    public static string? ValidateNodeId(string? nodeId)
    {
        if (string.IsNullOrEmpty(nodeId))
        {
            return "a node id must not be empty";
        }

        if (nodeId.Length > MaxNodeIdLength)
        {
            return $"node id '{nodeId}' is longer than {MaxNodeIdLength} characters";
        }

        return nodeId.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '-')
            ? null
            : $"node id '{nodeId}' may hold only lower-case letters, digits, '_' and '-'";
    }

    /// <summary>Every problem with this member, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (ValidateNodeId(NodeId) is { } idError)
        {
            errors.Add(idError);
        }

        void Address(string? value, string name)
        {
            if (string.IsNullOrWhiteSpace(value) || value.Any(char.IsWhiteSpace))
            {
                errors.Add($"member {NodeId}: {name} must be a host:port without spaces");
            }
        }

        Address(RaftAddress, "raftAddress");
        Address(PostgresAddress, "postgresAddress");
        Address(ProxyAddress, "proxyAddress");
        Address(ApiAddress, "apiAddress");
        if (Tags is null)
        {
            errors.Add($"member {NodeId}: tags are missing");
        }
        else if (Tags.ReplicateFrom is { } from && from == NodeId)
        {
            errors.Add($"member {NodeId}: replicateFrom must name another member, not itself");
        }

        return errors;
    }
}

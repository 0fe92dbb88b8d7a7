namespace PgRaft.Raft.Hosting;

/// <summary>The operation needs the Raft leader and this node is not it (or lost leadership before the entry committed).</summary>
public sealed class NotLeaderException : Exception
{
    public NotLeaderException(string? leaderId, string? detail = null)
        : base((detail is null ? "" : detail + " ") + (leaderId is null
            ? "This node is not the Raft leader and no leader is known right now; retry shortly."
            : $"This node is not the Raft leader; the leader is '{leaderId}'."))
    {
        LeaderId = leaderId;
    }

    /// <summary>The leader this node knows of, or null.</summary>
    public string? LeaderId { get; }
}

/// <summary>A proposal's entry was replaced by a snapshot before this node could see whether it committed.</summary>
public sealed class ProposalOutcomeUnknownException(long index)
    : Exception($"The outcome of the proposal at log index {index} is unknown: this node installed a snapshot past it. Check the state before retrying.")
{
    public long Index { get; } = index;
}

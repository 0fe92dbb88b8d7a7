namespace PgRaft.Node.Cluster;

internal enum CommandOutcome
{
    Applied = 0,
    Rejected = 1,

    /// <summary>An empty entry (a new leader's no-op) or an index already applied: nothing changed.</summary>
    Ignored = 2,
}

/// <summary>What applying one log entry did; handed back to whoever proposed it. <see cref="OperationId"/>: the node operation it made or ended.</summary>
internal sealed record CommandResult(CommandOutcome Outcome, string Message, long? OperationId = null)
{
    public bool IsApplied => Outcome == CommandOutcome.Applied;

    public static CommandResult Applied(string message, long? operationId = null) => new(CommandOutcome.Applied, message, operationId);

    public static CommandResult Rejected(string reason) => new(CommandOutcome.Rejected, reason);

    public static CommandResult Ignored(string message) => new(CommandOutcome.Ignored, message);

    public override string ToString() => $"{Outcome}: {Message}";
}

namespace PgRaft.Node.Cluster;

internal enum NodeOperationKind
{
    /// <summary>Restart the node's PostgreSQL in place (a primary stays primary; its clients reconnect).</summary>
    Restart = 0,

    /// <summary>Re-clone a standby's data directory from its upstream with pg_basebackup; the old one is kept aside.</summary>
    Reinit = 1,
}

/// <summary>
/// An operator's request for one node's keeper (<c>pgraft restart</c>, <c>pgraft reinit</c>). <see cref="Id"/> is
/// assigned when the log applies it; the keeper reports the id it completed, and the sentinel then records the outcome.
/// </summary>
internal sealed record NodeOperation(long Id, NodeOperationKind Kind, DateTimeOffset RequestedAt);

/// <summary>What a keeper reports of the last operation it carried out (or gave up).</summary>
internal sealed record CompletedOperation(long Id, bool Succeeded, string Message);

/// <summary>
/// How an operator request ended (a switchover, failover, restart or reinit: done, or cancelled and why), so the
/// command that asked can tell its user. <see cref="Sequence"/> rises with every notice; <see cref="OperationId"/> names
/// the node operation it ends, if it ends one.
/// </summary>
internal sealed record OperationNotice(long Sequence, string Operation, bool Succeeded, string Message, long? OperationId = null);

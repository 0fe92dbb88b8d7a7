namespace PgRaft.JepsenStyle.Workload;

internal enum Outcome
{
    /// <summary>The server acknowledged the commit.</summary>
    Ok,

    /// <summary>Certainly not committed: the connection was never made, or the server rejected the statement.</summary>
    Failed,

    /// <summary>The connection broke (or the server ended the session) while the commit was in flight: either way.</summary>
    Unknown,
}

/// <summary>The unique key one insert writes.</summary>
internal readonly record struct Key(int Client, int Seq)
{
    public override string ToString() => $"({Client},{Seq})";
}

/// <summary>
/// One insert as the client saw it. Times are on the run's monotonic clock (<see cref="Harness.RunLog.Now"/>).
/// <see cref="AckedBy"/> is the node whose PostgreSQL acknowledged it (from <c>inet_server_addr()</c>).
/// <see cref="Warning"/> keeps a server warning that came with an acknowledgement (such as a cancelled wait for
/// synchronous replication), which would explain a lost acknowledged write.
/// </summary>
internal sealed record Operation(Key Key, TimeSpan Start, TimeSpan End, Outcome Outcome, int? AckedBy, string? Error, string? Warning = null);

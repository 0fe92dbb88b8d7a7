namespace PgRaft.PgControl;

/// <summary>What went wrong, so the caller can react to each case without parsing messages.</summary>
internal enum PgControlError
{
    BinariesNotFound,
    UnsupportedVersion,
    OsUserRequired,
    DataDirectoryMissing,
    DataDirectoryNotInitialized,
    DataDirectoryNotEmpty,
    DataDirectoryOwnership,
    DataDirectoryPermissions,
    SystemIdentifierMismatch,
    PortInUse,
    AlreadyRunning,
    NotRunning,
    StartFailed,
    StartTimedOut,
    StopTimedOut,
    LeaseRequired,
    CommandFailed,
    CommandTimedOut,
    InvalidArgument,
    PromoteFailed,
    RewindFailed,
    CloneFailed,
    PasswordMissing,
    SourceNotReady,
}

/// <summary>A PgControl failure with a message naming what is wrong and how to fix it; never carries a secret.</summary>
internal sealed class PgControlException : Exception
{
    public PgControlException(PgControlError error, string message, string? logTail = null, Exception? inner = null)
        : base(logTail is null ? message : message + "\nLast lines of the PostgreSQL log:\n" + logTail, inner)
    {
        Error = error;
        LogTail = logTail;
    }

    public PgControlError Error { get; }

    /// <summary>The last lines of PostgreSQL's (or the tool's) output, when they explain the failure.</summary>
    public string? LogTail { get; }
}

using Microsoft.Extensions.Logging;

namespace PgRaft.Node;

/// <summary>Cluster state, sentinel and lease log lines (EventIds 5000–5999).</summary>
internal static partial class LogMessages
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Debug, Message = "Applied entry {Index} ({Command}): {Result}")]
    public static partial void CommandApplied(ILogger logger, long index, string command, string result);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Rejected entry {Index} ({Command}): {Reason}")]
    public static partial void CommandRejected(ILogger logger, long index, string command, string reason);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Error, Message = "Entry {Index} ({Length} bytes) is not a cluster command and was skipped: {Error}")]
    public static partial void UndecodableCommand(ILogger logger, long index, int length, string error);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "Restored cluster state snapshot at index {Index}: generation {Generation}, {Members} members")]
    public static partial void SnapshotRestored(ILogger logger, long index, long generation, int members);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Error, Message = "A cluster state change handler failed")]
    public static partial void ChangeHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5100, Level = LogLevel.Information, Message = "Sentinel proposes {Command}: {Reason}")]
    public static partial void SentinelProposes(ILogger logger, string command, string reason);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "Sentinel ({Status}): {Reason}")]
    public static partial void SentinelStatusChanged(ILogger logger, string status, string reason);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Debug, Message = "Sentinel waits ({Status}): {Reason}")]
    public static partial void SentinelWaits(ILogger logger, string status, string reason);

    [LoggerMessage(EventId = 5200, Level = LogLevel.Debug, Message = "Lease for {NodeId} at generation {Generation}: {Outcome}")]
    public static partial void LeaseDecision(ILogger logger, string nodeId, long generation, string outcome);
}

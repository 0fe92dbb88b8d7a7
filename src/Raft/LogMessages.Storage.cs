using Microsoft.Extensions.Logging;

namespace PgRaft.Raft;

internal static partial class LogMessages
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information,
        Message = "Raft storage loaded from {Directory}: snapshot index {SnapshotIndex}, log {FirstIndex}..{LastIndex} in {SegmentCount} segment(s), term {Term}, commit {Commit}")]
    public static partial void StorageLoaded(ILogger logger, string directory, long snapshotIndex, long firstIndex, long lastIndex, int segmentCount, long term, long commit);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning,
        Message = "Torn tail in Raft log segment {File} at offset {Offset} ({Problem}): truncated {DroppedBytes} byte(s) that were never acknowledged as durable")]
    public static partial void TornTailTruncated(ILogger logger, string file, long offset, string problem, long droppedBytes);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Error,
        Message = "Snapshot file {File} is damaged ({Problem}); it is kept on disk and an older snapshot is tried")]
    public static partial void SnapshotDamaged(ILogger logger, string file, string problem);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning,
        Message = "Using the older snapshot at index {SnapshotIndex} ({File}) because a newer one is damaged")]
    public static partial void FellBackToOlderSnapshot(ILogger logger, long snapshotIndex, string file);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Critical,
        Message = "Raft storage is corrupted: {File} at offset {Offset}: {Problem}")]
    public static partial void StorageCorrupted(ILogger logger, string file, long offset, string problem);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information,
        Message = "Installed snapshot at index {SnapshotIndex} term {SnapshotTerm} ({LogAction})")]
    public static partial void SnapshotInstalled(ILogger logger, long snapshotIndex, long snapshotTerm, string logAction);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Debug, Message = "Started Raft log segment {File}")]
    public static partial void SegmentStarted(ILogger logger, string file);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Debug, Message = "Deleted Raft log segment {File}: all its entries are covered by snapshot index {SnapshotIndex}")]
    public static partial void SegmentDeleted(ILogger logger, string file, long snapshotIndex);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Debug, Message = "Deleted old snapshot file {File}")]
    public static partial void SnapshotDeleted(ILogger logger, string file);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Debug, Message = "Removed incomplete snapshot temp file {File}")]
    public static partial void TempFileRemoved(ILogger logger, string file);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning,
        Message = "Log entries after snapshot index {SnapshotIndex} disagree with its term {SnapshotTerm}: discarded the log as the interrupted snapshot install would have")]
    public static partial void LogDiscardedOnLoad(ILogger logger, long snapshotIndex, long snapshotTerm);
}

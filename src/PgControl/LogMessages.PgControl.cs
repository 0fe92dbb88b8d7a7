using Microsoft.Extensions.Logging;

namespace PgRaft.PgControl;

internal static partial class LogMessages
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message = "Guard is fencing PostgreSQL: {Reason}")]
    public static partial void GuardFencing(ILogger logger, string reason);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Guard: {Line}")]
    public static partial void GuardStderr(ILogger logger, string line);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Initialising PostgreSQL {Version} data directory {DataDirectory}")]
    public static partial void Initializing(ILogger logger, int version, string dataDirectory);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Information, Message = "Starting PostgreSQL as {Role} on port {Port}")]
    public static partial void Starting(ILogger logger, string role, int port);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Information, Message = "PostgreSQL is ready as {Role} (postmaster pid {Pid})")]
    public static partial void Ready(ILogger logger, string role, int pid);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Information, Message = "Stopping PostgreSQL ({Mode})")]
    public static partial void Stopping(ILogger logger, string mode);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Warning, Message = "PostgreSQL did not stop in {Mode} mode within the timeout; escalating")]
    public static partial void StopEscalating(ILogger logger, string mode);

    [LoggerMessage(EventId = 3015, Level = LogLevel.Warning, Message = "PostgreSQL exited (code {ExitCode}, fence reason {FenceReason})")]
    public static partial void PostmasterExited(ILogger logger, int? exitCode, string? fenceReason);

    [LoggerMessage(EventId = 3016, Level = LogLevel.Warning, Message = "Stale postmaster.pid (pid {Pid} is not a running postmaster of this data directory) moved aside")]
    public static partial void StalePidFile(ILogger logger, int pid);

    [LoggerMessage(EventId = 3017, Level = LogLevel.Warning, Message = "A postmaster (pid {Pid}) runs on this data directory outside the guard: stopping it at once")]
    public static partial void OrphanPostmaster(ILogger logger, int pid);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Promoting PostgreSQL to primary")]
    public static partial void Promoting(ILogger logger);

    [LoggerMessage(EventId = 3032, Level = LogLevel.Information, Message = "Promoted: writable {TotalMs} ms after the call (slots {SlotsMs} ms, synchronous_standby_names {SyncNamesMs} ms, end of recovery {RecoveryMs} ms)")]
    public static partial void Promoted(ILogger logger, long totalMs, long slotsMs, long syncNamesMs, long recoveryMs);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Information, Message = "Following upstream {Upstream}")]
    public static partial void Following(ILogger logger, string upstream);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Information, Message = "Cloning from {Upstream} with pg_basebackup")]
    public static partial void Cloning(ILogger logger, string upstream);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Warning, Message = "Data directory moved aside to {AsidePath}")]
    public static partial void MovedAside(ILogger logger, string asidePath);

    [LoggerMessage(EventId = 3024, Level = LogLevel.Information, Message = "Rewinding from {Upstream} with pg_rewind")]
    public static partial void Rewinding(ILogger logger, string upstream);

    [LoggerMessage(EventId = 3025, Level = LogLevel.Warning, Message = "Rewind from {Upstream} is not possible ({Reason}); cloning instead")]
    public static partial void RewindFallback(ILogger logger, string upstream, string reason);

    [LoggerMessage(EventId = 3030, Level = LogLevel.Information, Message = "PostgreSQL configuration written: {Changed} changed, restart needed for {Restart}")]
    public static partial void ConfigurationWritten(ILogger logger, string changed, string restart);

    [LoggerMessage(EventId = 3031, Level = LogLevel.Warning, Message = "The history file of timeline {Timeline} cannot be read ({Reason}); its fork point is reported as unknown")]
    public static partial void TimelineHistoryUnreadable(ILogger logger, int timeline, string reason);
}

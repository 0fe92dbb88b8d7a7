using Microsoft.Extensions.Logging;

namespace PgRaft.Node;

/// <summary>systemd notification log lines (EventIds 6900–6919).</summary>
internal static partial class LogMessages
{
    [LoggerMessage(EventId = 6900, Level = LogLevel.Information, Message = "Told systemd the node is ready (watchdog {Watchdog})")]
    public static partial void SystemdReady(ILogger logger, string watchdog);

    [LoggerMessage(EventId = 6901, Level = LogLevel.Error, Message = "Node loop {Loop} has made no progress for {Silence}: no longer feeding the systemd watchdog, which will restart pgraft")]
    public static partial void WatchdogWithheld(ILogger logger, string loop, string silence);

    [LoggerMessage(EventId = 6902, Level = LogLevel.Warning, Message = "Could not send {Message} to systemd's notify socket: {Error}")]
    public static partial void SystemdUnreachable(ILogger logger, string message, string error);
}

using Microsoft.Extensions.Logging;
using PgRaft.Node.Configuration;
using Serilog;
using Serilog.Events;
using Serilog.Extensions.Logging;

namespace PgRaft.Node.Hosting;

/// <summary>Serilog behind <see cref="ILoggerFactory"/>: one line per event on stderr, optionally a file too.</summary>
internal static class NodeLogging
{
    private const string Template = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} {Level:u3} {NodeId} {SourceContext}: {Message:lj}{NewLine}{Exception}";

    public static ILoggerFactory Create(string nodeId, LoggingOptions options)
    {
        var configuration = new LoggerConfiguration()
            .MinimumLevel.Is(Enum.Parse<LogEventLevel>(options.Level))
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .Enrich.WithProperty("NodeId", nodeId)
            .WriteTo.Console(outputTemplate: Template, standardErrorFromLevel: LogEventLevel.Verbose);
        if (!string.IsNullOrEmpty(options.File))
        {
            configuration = configuration.WriteTo.File(options.File, outputTemplate: Template, fileSizeLimitBytes: 100 * 1024 * 1024, rollOnFileSizeLimit: true, retainedFileCountLimit: 5);
        }

        var logger = configuration.CreateLogger();
        return new SerilogLoggerFactory(logger, dispose: true);
    }
}

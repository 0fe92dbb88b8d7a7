using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace PgRaft.Raft.Tests.Transport;

/// <summary>Hands out free loopback ports from this task's range (27000-27999).</summary>
internal static class TestPorts
{
    private static int _next = 27000 + (Environment.ProcessId % 9 * 100);

    public static int Next()
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var port = Interlocked.Increment(ref _next);
            if (port > 27999)
            {
                Interlocked.Exchange(ref _next, 27000);
                continue;
            }

            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("No free loopback port in 27000-27999.");
    }
}

internal sealed record LogRecord(LogLevel Level, EventId EventId, string Message);

/// <summary>An ILogger that keeps what was logged, for assertions.</summary>
internal sealed class CapturingLogger<T> : ILogger<T>
{
    public ConcurrentQueue<LogRecord> Records { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Records.Enqueue(new LogRecord(logLevel, eventId, formatter(state, exception)));

    public int Count(int eventId) => Records.Count(r => r.EventId.Id == eventId);
}

internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for: {what}");
            }

            await Task.Delay(10);
        }
    }
}

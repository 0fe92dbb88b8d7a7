using System.Collections;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace PgRaft.Node.Hosting;

/// <summary>
/// The sd_notify protocol without libsystemd: one datagram per message to the Unix socket systemd names in
/// <c>$NOTIFY_SOCKET</c> (a path, or an abstract name written with a leading '@'). <see cref="FromEnvironment"/> gives
/// null when pgraft does not run under a <c>Type=notify</c> unit, so callers simply skip notifying.
/// </summary>
internal sealed class SystemdNotifier : IDisposable
{
    private readonly Socket _socket;
    private readonly UnixDomainSocketEndPoint _endPoint;

    private SystemdNotifier(string socketName, TimeSpan? watchdogTimeout)
    {
        // An abstract socket name starts with NUL; systemd writes it with '@'.
        _endPoint = new UnixDomainSocketEndPoint(socketName.StartsWith('@') ? "\0" + socketName[1..] : socketName);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        WatchdogTimeout = watchdogTimeout;
    }

    /// <summary>systemd's <c>WatchdogSec=</c> when it expects keep-alive pings from this process; null otherwise.</summary>
    public TimeSpan? WatchdogTimeout { get; }

    /// <summary>How often to ping the watchdog: half its timeout, as sd_watchdog_enabled(3) advises.</summary>
    public TimeSpan? WatchdogInterval => WatchdogTimeout / 2;

    /// <summary>
    /// <see cref="FromEnvironment"/> for this process, then removes the variables (as sd_notify's unset_environment
    /// does) so that the guard and the postmaster, which PostgreSQL's Debian build would let notify too, do not inherit them.
    /// </summary>
    public static SystemdNotifier? FromProcessEnvironment()
    {
        var notifier = FromEnvironment(Environment.GetEnvironmentVariables(), Environment.ProcessId);
        foreach (var name in (string[])["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"])
        {
            Environment.SetEnvironmentVariable(name, null);
        }

        return notifier;
    }

    /// <summary>A notifier for <c>$NOTIFY_SOCKET</c>, or null when it is unset or empty.</summary>
    public static SystemdNotifier? FromEnvironment(IDictionary environment, int processId)
    {
        if (environment["NOTIFY_SOCKET"] is not string socket || socket.Length == 0)
        {
            return null;
        }

        return new SystemdNotifier(socket, WatchdogFromEnvironment(environment, processId));
    }

    /// <summary><c>$WATCHDOG_USEC</c>, unless <c>$WATCHDOG_PID</c> names another process (the variables were inherited).</summary>
    private static TimeSpan? WatchdogFromEnvironment(IDictionary environment, int processId)
    {
        if (environment["WATCHDOG_USEC"] is not string text
            || !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var microseconds)
            || microseconds <= 0)
        {
            return null;
        }

        if (environment["WATCHDOG_PID"] is string pidText && pidText.Length > 0
            && (!int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid != processId))
        {
            return null;
        }

        return TimeSpan.FromMicroseconds(microseconds);
    }

    /// <summary>The node is up (Raft started, API listening): systemd's start job completes.</summary>
    public Task ReadyAsync(string status, CancellationToken cancellationToken) =>
        SendAsync($"READY=1\nSTATUS={OneLine(status)}", cancellationToken);

    /// <summary>The service is alive; sent only while its loops make progress.</summary>
    public Task WatchdogAsync(CancellationToken cancellationToken) => SendAsync("WATCHDOG=1", cancellationToken);

    /// <summary>A short line for <c>systemctl status</c>.</summary>
    public Task StatusAsync(string status, CancellationToken cancellationToken) =>
        SendAsync($"STATUS={OneLine(status)}", cancellationToken);

    /// <summary>The node is shutting down: systemd stops waiting for pings.</summary>
    public Task StoppingAsync(CancellationToken cancellationToken) => SendAsync("STOPPING=1\nSTATUS=stopping", cancellationToken);

    private async Task SendAsync(string message, CancellationToken cancellationToken)
    {
        // A datagram socket: each message is one datagram, and connecting again after a failure (systemd restarted,
        // socket re-created) is what SendToAsync does anyway.
        await _socket.SendToAsync(Encoding.UTF8.GetBytes(message), SocketFlags.None, _endPoint, cancellationToken);
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    public void Dispose() => _socket.Dispose();
}

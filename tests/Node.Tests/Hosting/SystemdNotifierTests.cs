using System.Collections;
using System.Net.Sockets;
using System.Text;
using PgRaft.Node.Hosting;

namespace PgRaft.Node.Tests.Hosting;

/// <summary>The sd_notify client against a real Unix datagram socket, as systemd binds one for a Type=notify unit.</summary>
public sealed class SystemdNotifierTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgraft-notify-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Ready_status_watchdog_and_stopping_arrive_as_single_datagrams_on_a_socket_path()
    {
        var path = Path.Combine(_folder, "notify");
        using var systemd = Bind(path);
        using var notifier = SystemdNotifier.FromEnvironment(Env(("NOTIFY_SOCKET", path), ("WATCHDOG_USEC", "10000000")), 42);
        Assert.NotNull(notifier);
        var token = CancellationToken.None;

        await notifier.ReadyAsync("replica; cluster primary node1", token);
        Assert.Equal("READY=1\nSTATUS=replica; cluster primary node1", await ReceiveAsync(systemd));
        await notifier.WatchdogAsync(token);
        Assert.Equal("WATCHDOG=1", await ReceiveAsync(systemd));
        await notifier.StatusAsync("primary\nwith a line break", token);
        Assert.Equal("STATUS=primary with a line break", await ReceiveAsync(systemd));
        await notifier.StoppingAsync(token);
        Assert.Equal("STOPPING=1\nSTATUS=stopping", await ReceiveAsync(systemd));
    }

    [Fact]
    public async Task An_abstract_socket_name_written_with_an_at_sign_is_reached()
    {
        var name = "pgraft-test-" + Guid.NewGuid().ToString("N");
        using var systemd = Bind("\0" + name);
        using var notifier = SystemdNotifier.FromEnvironment(Env(("NOTIFY_SOCKET", "@" + name)), 42);
        Assert.NotNull(notifier);

        await notifier.WatchdogAsync(CancellationToken.None);

        Assert.Equal("WATCHDOG=1", await ReceiveAsync(systemd));
    }

    [Fact]
    public void Without_a_notify_socket_there_is_no_notifier()
    {
        Assert.Null(SystemdNotifier.FromEnvironment(Env(), 42));
        Assert.Null(SystemdNotifier.FromEnvironment(Env(("NOTIFY_SOCKET", "")), 42));
    }

    [Theory]
    [InlineData(null, null, null)]
    [InlineData("10000000", null, 10.0)]
    [InlineData("10000000", "42", 10.0)]
    [InlineData("10000000", "7", null)] // inherited from a parent the watchdog watches: not ours to feed
    [InlineData("0", null, null)]
    [InlineData("ten", null, null)]
    public void The_watchdog_is_on_only_for_this_process_with_a_positive_timeout(string? usec, string? pid, double? expectedSeconds)
    {
        var variables = new List<(string, string)> { ("NOTIFY_SOCKET", Path.Combine(_folder, "unused")) };
        if (usec is not null)
        {
            variables.Add(("WATCHDOG_USEC", usec));
        }

        if (pid is not null)
        {
            variables.Add(("WATCHDOG_PID", pid));
        }

        using var notifier = SystemdNotifier.FromEnvironment(Env([.. variables]), 42);

        Assert.NotNull(notifier);
        Assert.Equal(expectedSeconds, notifier.WatchdogTimeout?.TotalSeconds);
        Assert.Equal(expectedSeconds / 2, notifier.WatchdogInterval?.TotalSeconds);
    }

    [Fact]
    public async Task A_missing_socket_is_an_error_the_caller_sees()
    {
        using var notifier = SystemdNotifier.FromEnvironment(Env(("NOTIFY_SOCKET", Path.Combine(_folder, "nobody-listens"))), 42);
        Assert.NotNull(notifier);

        await Assert.ThrowsAnyAsync<SocketException>(() => notifier.WatchdogAsync(CancellationToken.None));
    }

    private static Hashtable Env(params (string Name, string Value)[] variables)
    {
        var table = new Hashtable();
        foreach (var (name, value) in variables)
        {
            table[name] = value;
        }

        return table;
    }

    private static Socket Bind(string name)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(name));
        return socket;
    }

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var received = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, received);
    }
}

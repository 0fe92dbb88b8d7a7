using System.Globalization;
using System.Net;
using System.Net.Sockets;
using FsCheck;
using FsCheck.Fluent;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Routing;
using PgRaft.Proxy.Tests.Fixtures;

namespace PgRaft.Proxy.Tests;

/// <summary>
/// How the epoll forwarding threads run: CPU pinning, nice value and the busy-poll window. Checked on
/// the real threads through /proc, with real loopback traffic through them.
/// </summary>
public sealed class ForwardingThreadSettingsTests
{
    [Theory]
    [InlineData(nameof(ProxyListenerOptions.EpollBusyPoll), 2000, 0)]
    [InlineData(nameof(ProxyListenerOptions.EpollBusyPoll), -1, 0)]
    [InlineData(nameof(ProxyListenerOptions.EpollThreadNice), 0, 20)]
    [InlineData(nameof(ProxyListenerOptions.EpollThreadNice), 0, -21)]
    public void Out_of_range_thread_settings_are_refused_by_name(string setting, int busyPollMicroseconds, int nice)
    {
        var options = new ProxyListenerOptions
        {
            Role = ProxyRole.ReadWrite,
            Listen = new IPEndPoint(IPAddress.Loopback, 1),
            EpollBusyPoll = TimeSpan.FromMicroseconds(busyPollMicroseconds),
            EpollThreadNice = nice,
        };

        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_thread_index_gets_an_allowed_cpu_and_the_first_ones_get_different_cpus()
    {
        var masks = Gen.ListOf(Gen.Choose(0, 1023)).Select(cpus => cpus.Distinct().Order().ToArray()).ToArbitrary();
        Prop.ForAll(masks, allowed =>
        {
            var mask = new byte[128];
            foreach (var cpu in allowed)
            {
                mask[cpu / 8] |= (byte)(1 << (cpu % 8));
            }

            if (allowed.Length == 0)
            {
                return EpollLoop.ChooseCpu(mask, 0) == -1;
            }

            var chosen = Enumerable.Range(0, allowed.Length * 2).Select(index => EpollLoop.ChooseCpu(mask, index)).ToArray();
            return chosen.All(allowed.Contains) && chosen.Take(allowed.Length).Distinct().Count() == allowed.Length;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public async Task Pinned_reniced_busy_polling_threads_forward_and_carry_their_settings()
    {
        await using var backend = new TcpBackend(async socket =>
        {
            var buffer = new byte[1024];
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
        });
        await using var proxy = ProxyHarness.Start(
            ProxyHarness.PrimaryAt(backend.Port),
            mode: ForwardingMode.Epoll,
            epollThreads: 2,
            busyPoll: TimeSpan.FromMicroseconds(50),
            pinThreads: true,
            threadNice: 3);

        // Four connections (two per thread), a few round trips each: the busy-poll window must neither lose nor hold back data.
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, proxy.Port));
            }

            for (var round = 0; round < 20; round++)
            {
                foreach (var client in clients)
                {
                    await EchoAsync(client, (byte)round);
                }
            }

            // Two connections per thread: each thread is pinned to a CPU of its own.
            var threadIds = proxy.Listener.ForwardingThreadIds;
            Assert.Equal(2, threadIds.Length);
            Assert.All(threadIds, id => Assert.NotEqual(0, id));
            var cpus = threadIds.Select(AllowedCpus).ToArray();
            Assert.All(cpus, allowed => Assert.Single(allowed));
            if (ProcessCpuCount() >= 2)
            {
                Assert.NotEqual(cpus[0][0], cpus[1][0]);
            }

            Assert.All(threadIds, id => Assert.Equal(3, Nice(id)));

            // Below two connections per thread (EpollPinMinConnections) the threads may move again.
            clients.ForEach(client => client.Dispose());
            await WaitUntil(() => threadIds.All(id => AllowedCpus(id).Length == ProcessCpuCount()));
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition(), "The condition did not become true within 10 s.");
    }

    [Fact]
    public async Task The_local_postgres_is_reached_through_its_unix_socket_and_cut_like_any_target()
    {
        var directory = Directory.CreateTempSubdirectory("pgraft-proxy-unix-");
        try
        {
            // Marker 1: the local server's TCP port (must not be used); marker 2: its Unix socket; marker 3: another server.
            await using var localTcp = MarkedEchoServer(1);
            await using var remote = MarkedEchoServer(3);
            var socketPath = Path.Combine(directory.FullName, ".s.PGSQL.test");
            using var unixListener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            unixListener.Bind(new UnixDomainSocketEndPoint(socketPath));
            unixListener.Listen(16);
            using var stopUnix = new CancellationTokenSource();
            var unixServer = ServeMarkedAsync(unixListener, 2, stopUnix.Token);
            var local = new ProxyEndpoint("127.0.0.1", localTcp.Port);

            await using (var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(localTcp.Port), mode: ForwardingMode.Epoll, localPostgres: local, localPostgresSocketPath: socketPath))
            {
                using var client = await ConnectAsync(proxy.Port);
                Assert.Equal(2, await MarkerAsync(client));
                for (var i = 0; i < 10; i++)
                {
                    await EchoAsync(client, (byte)i);
                }

                // The primary moves elsewhere: the local connection is cut and new clients go over TCP to the new one.
                proxy.Routing.Publish(ProxyHarness.PrimaryAt(remote.Port));
                await AssertClosedAsync(client);
                using var after = await ConnectAsync(proxy.Port);
                Assert.Equal(3, await MarkerAsync(after));
                await EchoAsync(after, 77);
            }

            await stopUnix.CancelAsync();
            unixListener.Dispose();
            await unixServer;
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_local_socket_needs_its_endpoint_and_an_absolute_path()
    {
        var listen = new IPEndPoint(IPAddress.Loopback, 1);
        var withoutEndpoint = new ProxyListenerOptions { Role = ProxyRole.ReadWrite, Listen = listen, LocalPostgresSocketPath = "/tmp/.s.PGSQL.5432" };
        var relative = new ProxyListenerOptions { Role = ProxyRole.ReadWrite, Listen = listen, LocalPostgres = new ProxyEndpoint("127.0.0.1", 5432), LocalPostgresSocketPath = "run/.s.PGSQL.5432" };

        Assert.Contains(nameof(ProxyListenerOptions.LocalPostgresSocketPath), Assert.Throws<ArgumentException>(withoutEndpoint.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("absolute", Assert.Throws<ArgumentException>(relative.Validate).Message, StringComparison.Ordinal);
    }

    private static TcpBackend MarkedEchoServer(byte marker) => new(socket => GreetAndEchoAsync(socket, marker));

    private static async Task GreetAndEchoAsync(Socket socket, byte marker)
    {
        await socket.SendAsync(new[] { marker }, SocketFlags.None);
        var buffer = new byte[1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
        }
    }

    private static async Task ServeMarkedAsync(Socket listener, byte marker, CancellationToken cancellationToken)
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                var connection = await listener.AcceptAsync(cancellationToken);
                connections.Add(Task.Run(
                    async () =>
                    {
                        using (connection)
                        {
                            try
                            {
                                await GreetAndEchoAsync(connection, marker);
                            }
                            catch (SocketException)
                            {
                                // Cut by the proxy: the test checks the client's side.
                            }
                        }
                    },
                    CancellationToken.None));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped by the test.
        }

        await Task.WhenAll(connections);
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        return socket;
    }

    private static async Task<byte> MarkerAsync(Socket client)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[1];
        Assert.Equal(1, await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token));
        return buffer[0];
    }

    private static async Task AssertClosedAsync(Socket client)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[16];
        try
        {
            Assert.Equal(0, await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token));
        }
        catch (SocketException e)
        {
            Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
        }
    }

    private static async Task EchoAsync(Socket client, byte value)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await client.SendAsync(new[] { value }, SocketFlags.None, timeout.Token);
        var buffer = new byte[1];
        Assert.Equal(1, await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token));
        Assert.Equal(value, buffer[0]);
    }

    /// <summary>CPUs a thread of this process may run on, from Cpus_allowed_list ("0-1,4").</summary>
    private static int[] AllowedCpus(int threadId)
    {
        var line = File.ReadLines($"/proc/self/task/{threadId}/status").Single(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal));
        return [.. line["Cpus_allowed_list:".Length..].Trim().Split(',').SelectMany(range =>
        {
            var bounds = range.Split('-').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray();
            return Enumerable.Range(bounds[0], bounds[^1] - bounds[0] + 1);
        })];
    }

    private static int ProcessCpuCount() => AllowedCpus(Environment.ProcessId).Length;

    /// <summary>The thread's nice value: field 19 of /proc/.../stat (counting after the parenthesised name, which may hold spaces).</summary>
    private static int Nice(int threadId)
    {
        var stat = File.ReadAllText($"/proc/self/task/{threadId}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[19 - 3], CultureInfo.InvariantCulture);
    }
}

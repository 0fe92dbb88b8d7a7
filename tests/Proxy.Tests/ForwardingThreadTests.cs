using System.Net;
using System.Net.Sockets;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Tests.Fixtures;

namespace PgRaft.Proxy.Tests;

/// <summary>
/// Epoll mode serves each connection wholly on one of several forwarding threads (accept, backend
/// connect, forwarding): the listener's rules must hold across all of them. Real loopback TCP.
/// </summary>
public sealed class ForwardingThreadTests
{
    [Fact]
    public async Task Connections_spread_over_the_forwarding_threads_and_a_routing_change_cuts_them_all()
    {
        await using var oldTarget = MarkedEchoServer(1);
        await using var newTarget = MarkedEchoServer(2);
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(oldTarget.Port), mode: ForwardingMode.Epoll, epollThreads: 2);
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                clients.Add(await ConnectAsync(proxy.Port));
                Assert.Equal(1, await MarkerAsync(clients[i]));
                await EchoAsync(clients[i], (byte)i);
            }

            Assert.Equal([3, 3], proxy.Listener.ConnectionsPerForwardingThread);

            proxy.Routing.Publish(ProxyHarness.PrimaryAt(newTarget.Port));

            foreach (var client in clients)
            {
                await AssertClosedAsync(client);
            }

            await WaitUntil(() => proxy.Listener.Counters.Cut == 6);
            using var after = await ConnectAsync(proxy.Port);
            Assert.Equal(2, await MarkerAsync(after));
            await EchoAsync(after, 42);
            await WaitUntil(() => proxy.Listener.Counters.Active == 1 && proxy.Listener.ConnectionsPerForwardingThread.Sum() == 1);
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    [Fact]
    public async Task The_connection_limit_holds_across_forwarding_threads()
    {
        await using var target = MarkedEchoServer(1);
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(target.Port), mode: ForwardingMode.Epoll, epollThreads: 2, maxConnections: 4);
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                clients.Add(await ConnectAsync(proxy.Port));
                Assert.Equal(1, await MarkerAsync(clients[i]));
            }

            using (var refused = await ConnectAsync(proxy.Port))
            {
                await AssertClosedAsync(refused);
            }

            for (var i = 0; i < 4; i++)
            {
                await EchoAsync(clients[i], (byte)(10 + i));
            }

            Assert.Equal(1, proxy.Listener.Counters.Refused);
            Assert.Equal(4, proxy.Listener.Counters.Active);
            Assert.Equal([2, 2], proxy.Listener.ConnectionsPerForwardingThread);

            // A freed place is available again.
            clients[0].Dispose();
            await WaitUntil(() => proxy.Listener.Counters.Active == 3);
            clients[0] = await ConnectAsync(proxy.Port);
            Assert.Equal(1, await MarkerAsync(clients[0]));
            await EchoAsync(clients[0], 99);
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    [Theory]
    [InlineData(nameof(ForwardingMode.Epoll))]
    [InlineData(nameof(ForwardingMode.Pooled))]
    public async Task A_backend_that_never_answers_the_connect_closes_the_client_after_the_connect_timeout(string modeName)
    {
        // A listener whose accept queue is full: the kernel drops further SYNs, so a connect to it hangs.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(TestPorts.NextEndPoint());
        silent.Listen(1);
        var silentPort = ((IPEndPoint)silent.LocalEndPoint!).Port;
        var fillers = Enumerable.Range(0, 6).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToList();
        using var fillerTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var filling = fillers.Select(filler => filler.ConnectAsync(IPAddress.Loopback, silentPort, fillerTimeout.Token).AsTask()).ToList();
        try
        {
            await Task.Delay(300);
            await using var proxy = ProxyHarness.Start(
                ProxyHarness.PrimaryAt(silentPort),
                mode: Enum.Parse<ForwardingMode>(modeName),
                // No hold: a read-write client whose connect failed would otherwise wait for the primary to come back.
                holdTimeout: TimeSpan.Zero,
                connectTimeout: TimeSpan.FromMilliseconds(700));
            using var client = await ConnectAsync(proxy.Port);

            await AssertClosedAsync(client);

            Assert.Equal(1, proxy.Listener.Counters.ConnectFailures);
            Assert.Equal(0, proxy.Listener.Counters.Total);
            Assert.Equal(0, proxy.Listener.Counters.Active);
        }
        finally
        {
            await fillerTimeout.CancelAsync();
            fillers.ForEach(filler => filler.Dispose());
            await Task.WhenAll(filling.Select(task => task.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
    }

    /// <summary>Sends its marker byte to every new connection, then echoes.</summary>
    private static TcpBackend MarkedEchoServer(byte marker) => new(async socket =>
    {
        await socket.SendAsync(new[] { marker }, SocketFlags.None);
        var buffer = new byte[1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
        }
    });

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        return socket;
    }

    /// <summary>Reads the marker byte the server behind the proxy greets every connection with.</summary>
    private static async Task<byte> MarkerAsync(Socket client)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[1];
        Assert.Equal(1, await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token));
        return buffer[0];
    }

    /// <summary>Sends one byte and checks that it comes back.</summary>
    private static async Task EchoAsync(Socket client, byte value)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await client.SendAsync(new[] { value }, SocketFlags.None, timeout.Token);
        var buffer = new byte[1];
        Assert.Equal(1, await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token));
        Assert.Equal(value, buffer[0]);
    }

    /// <summary>The proxy closed the connection: end of stream or reset, within 10 s, and nothing forwarded meanwhile.</summary>
    private static async Task AssertClosedAsync(Socket client)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[16];
        try
        {
            var read = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.Equal(0, read);
        }
        catch (SocketException e)
        {
            Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
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
}

using System.Net;
using System.Net.Sockets;
using FsCheck;
using FsCheck.Fluent;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Tests.Fixtures;

namespace PgRaft.Proxy.Tests;

/// <summary>Byte-level behaviour over real loopback TCP: exact copies, half-close both ways.</summary>
public sealed class RawTcpTests
{
    [Theory]
    [InlineData(nameof(ForwardingMode.Pooled))]
    [InlineData(nameof(ForwardingMode.Splice))]
    [InlineData(nameof(ForwardingMode.Epoll))]
    public async Task Random_traffic_comes_back_byte_for_byte(string modeName)
    {
        var mode = Enum.Parse<ForwardingMode>(modeName);
        await using var echo = new TcpBackend(async socket =>
        {
            var buffer = new byte[8192];
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }

            socket.Shutdown(SocketShutdown.Send);
        });
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(echo.Port), mode: mode);

        var scenarios = Gen.Choose(0, int.MaxValue);
        Prop.ForAll(Arb.From(scenarios), seed => RoundTrip(proxy.Port, seed).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(25));

        Assert.Equal(proxy.Listener.Counters.BytesToServer, proxy.Listener.Counters.BytesToClient);
        Assert.Equal(25, proxy.Listener.Counters.Total);
    }

    [Theory]
    [InlineData(nameof(ForwardingMode.Pooled))]
    [InlineData(nameof(ForwardingMode.Splice))]
    [InlineData(nameof(ForwardingMode.Epoll))]
    public async Task A_client_half_close_reaches_the_server_and_the_reply_still_comes_back(string modeName)
    {
        await using var backend = new TcpBackend(async socket =>
        {
            var received = await TcpBackend.ReadToEndAsync(socket);
            await socket.SendAsync(BitConverter.GetBytes(received.Length), SocketFlags.None);
            await socket.SendAsync(received.Reverse().ToArray(), SocketFlags.None);
        });
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(backend.Port), mode: Enum.Parse<ForwardingMode>(modeName));
        using var client = await ConnectAsync(proxy.Port);
        var payload = RandomBytes(300_000, 7);

        await client.SendAsync(payload, SocketFlags.None);
        client.Shutdown(SocketShutdown.Send);
        var reply = await TcpBackend.ReadToEndAsync(client).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(payload.Length, BitConverter.ToInt32(reply, 0));
        Assert.Equal(payload.Reverse().ToArray(), reply[4..]);
    }

    [Theory]
    [InlineData(nameof(ForwardingMode.Pooled))]
    [InlineData(nameof(ForwardingMode.Splice))]
    [InlineData(nameof(ForwardingMode.Epoll))]
    public async Task A_server_half_close_reaches_the_client_and_the_client_can_still_send(string modeName)
    {
        var serverReceived = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = new TcpBackend(async socket =>
        {
            try
            {
                await socket.SendAsync("hello"u8.ToArray(), SocketFlags.None);
                socket.Shutdown(SocketShutdown.Send);
                serverReceived.SetResult(await TcpBackend.ReadToEndAsync(socket));
            }
            catch (Exception e)
            {
                serverReceived.SetException(e);
            }
        });
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(backend.Port), mode: Enum.Parse<ForwardingMode>(modeName));
        using var client = await ConnectAsync(proxy.Port);

        var greeting = await TcpBackend.ReadToEndAsync(client).WaitAsync(TimeSpan.FromSeconds(30));
        var payload = RandomBytes(200_000, 11);
        await client.SendAsync(payload, SocketFlags.None);
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("hello"u8.ToArray(), greeting);
        Assert.Equal(payload, await serverReceived.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    private static async Task<bool> RoundTrip(int port, int seed)
    {
        var random = new Random(seed);
        var payload = RandomBytes(random.Next(1, 400_000), seed);
        using var client = await ConnectAsync(port);
        var receive = TcpBackend.ReadToEndAsync(client);
        var offset = 0;
        while (offset < payload.Length)
        {
            // Odd chunk sizes, from single bytes to large writes.
            var size = Math.Min(payload.Length - offset, random.Next(3) switch { 0 => random.Next(1, 16), 1 => random.Next(16, 4096), _ => random.Next(4096, 200_000) });
            await client.SendAsync(payload.AsMemory(offset, size), SocketFlags.None);
            offset += size;
        }

        client.Shutdown(SocketShutdown.Send);
        var echoed = await receive.WaitAsync(TimeSpan.FromSeconds(30));
        return echoed.AsSpan().SequenceEqual(payload);
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        return socket;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}

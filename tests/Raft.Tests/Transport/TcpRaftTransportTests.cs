using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using PgRaft.Raft.Core;
using PgRaft.Raft.Transport;

namespace PgRaft.Raft.Tests.Transport;

public sealed class TcpRaftTransportTests : IAsyncLifetime
{
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("correct horse battery staple 42");
    private readonly List<TcpRaftTransport> _transports = [];
    private readonly string _tempDir = Path.Combine(Path.GetTempPath(), "pgraft-transport-" + Guid.NewGuid().ToString("N"));

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_tempDir);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var transport in _transports)
        {
            await transport.DisposeAsync();
        }

        Directory.Delete(_tempDir, recursive: true);
    }

    private static TcpTransportOptions Options(string id, int port, byte[]? secret = null) => new()
    {
        NodeId = id,
        BindEndPoint = new IPEndPoint(IPAddress.Loopback, port),
        ClusterSecret = secret ?? Secret,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(10),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(100),
        HandshakeTimeout = TimeSpan.FromSeconds(3),
    };

    private async Task<(TcpRaftTransport Transport, CapturingLogger<TcpRaftTransport> Log)> StartAsync(TcpTransportOptions options)
    {
        var log = new CapturingLogger<TcpRaftTransport>();
        var transport = new TcpRaftTransport(options, log);
        _transports.Add(transport);
        await transport.StartAsync(CancellationToken.None);
        return (transport, log);
    }

    private static RaftMessage Message(string from, string to, long term, int entries = 2, int dataBytes = 10) => new()
    {
        Type = MessageType.Append,
        From = from,
        To = to,
        Term = term,
        Index = 7,
        LogTerm = 3,
        Commit = 5,
        Entries = [.. Enumerable.Range(0, entries).Select(i => new LogEntry(8 + i, term, EntryKind.Command, new byte[dataBytes]))],
    };

    private static async Task<RaftMessage> ReceiveAsync(TcpRaftTransport transport, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await transport.Incoming.ReadAsync(cts.Token);
    }

    /// <summary>Sends a message every 20 ms until one arrives (messages sent while a connection is down may be lost by design).</summary>
    private static async Task<RaftMessage> SendUntilReceivedAsync(TcpRaftTransport from, TcpRaftTransport to, RaftMessage message, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var receive = to.Incoming.ReadAsync(cts.Token).AsTask();
        while (!receive.IsCompleted)
        {
            from.Send(message);
            await Task.WhenAny(receive, Task.Delay(20, CancellationToken.None));
        }

        return await receive;
    }

    [Fact]
    public void Peer_sockets_give_up_on_unacknowledged_data_and_silent_peers_within_the_dead_connection_timeout()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);

        TcpRaftTransport.DetectDeadConnections(socket, TimeSpan.FromSeconds(2));

        var userTimeout = new byte[4];
        socket.GetRawSocketOption(6, 18, userTimeout);
        Assert.Equal(2000, BitConverter.ToInt32(userTimeout));
        Assert.Equal(1, (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!);
        var idle = (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!;
        var probes = (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount)!;
        Assert.True(idle + probes <= 2, $"a silent peer is noticed after {idle} s idle and {probes} unanswered probes");
        Assert.Throws<ArgumentException>(() => new TcpTransportOptions { NodeId = "n1", ClusterSecret = Secret, DeadConnectionTimeout = TimeSpan.FromMilliseconds(100) }.Validate());
    }

    [Fact]
    public async Task Delivers_messages_between_authenticated_peers_in_order()
    {
        var portA = TestPorts.Next();
        var portB = TestPorts.Next();
        var (a, _) = await StartAsync(Options("a", portA));
        var (b, _) = await StartAsync(Options("b", portB));
        a.UpdatePeers(new Dictionary<string, EndPoint> { ["b"] = new IPEndPoint(IPAddress.Loopback, portB) });
        b.UpdatePeers(new Dictionary<string, EndPoint> { ["a"] = new IPEndPoint(IPAddress.Loopback, portA) });

        var first = await SendUntilReceivedAsync(a, b, Message("a", "b", 0), TimeSpan.FromSeconds(10));
        Assert.Equal("a", first.From);
        for (var i = 1; i <= 200; i++)
        {
            a.Send(Message("a", "b", i));
        }

        var last = 0L;
        while (last < 200)
        {
            var received = await ReceiveAsync(b, TimeSpan.FromSeconds(10));
            if (received.Term == 0)
            {
                continue; // a leftover of the probing loop
            }

            Assert.Equal(last + 1, received.Term);
            RaftMessageCodecTests.AssertSame(Message("a", "b", received.Term), received);
            last = received.Term;
        }

        var reply = await SendUntilReceivedAsync(b, a, Message("b", "a", 1), TimeSpan.FromSeconds(10));
        Assert.Equal("b", reply.From);
    }

    [Fact]
    public async Task Peer_with_wrong_secret_is_rejected_logged_once_and_never_delivers()
    {
        var portGood = TestPorts.Next();
        var portBad = TestPorts.Next();
        var (good, goodLog) = await StartAsync(Options("good", portGood));
        var wrongSecret = Encoding.UTF8.GetBytes("a different secret, also long");
        var (bad, badLog) = await StartAsync(Options("bad", portBad, wrongSecret));
        bad.UpdatePeers(new Dictionary<string, EndPoint> { ["good"] = new IPEndPoint(IPAddress.Loopback, portGood) });
        good.UpdatePeers(new Dictionary<string, EndPoint> { ["bad"] = new IPEndPoint(IPAddress.Loopback, portBad) });

        var started = DateTime.UtcNow;
        while (DateTime.UtcNow < started + TimeSpan.FromSeconds(1)
               || (goodLog.Count(2002) < 3 || badLog.Count(2002) < 3) && DateTime.UtcNow < started + TimeSpan.FromSeconds(10))
        {
            bad.Send(Message("bad", "good", 1));
            good.Send(Message("good", "bad", 1));
            await Task.Delay(20);
        }

        Assert.False(good.Incoming.TryRead(out _));
        Assert.False(bad.Incoming.TryRead(out _));
        // Many connection attempts were made (back-off capped at 100 ms), yet each side logged each peer once.
        Assert.True(goodLog.Count(2002) >= 3 && badLog.Count(2002) >= 3, "expected several retries on both sides");
        Assert.Equal(1, goodLog.Count(2004));
        Assert.Equal(1, goodLog.Count(2003));
        Assert.Equal(1, badLog.Count(2004));
        Assert.Equal(1, badLog.Count(2003));
        var allText = string.Join("\n", goodLog.Records.Concat(badLog.Records).Select(r => r.Message));
        Assert.DoesNotContain(Encoding.UTF8.GetString(Secret), allText, StringComparison.Ordinal);
        Assert.DoesNotContain(Encoding.UTF8.GetString(wrongSecret), allText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconnects_after_the_peer_restarts()
    {
        var portA = TestPorts.Next();
        var portB = TestPorts.Next();
        var (a, _) = await StartAsync(Options("a", portA));
        var (b, _) = await StartAsync(Options("b", portB));
        a.UpdatePeers(new Dictionary<string, EndPoint> { ["b"] = new IPEndPoint(IPAddress.Loopback, portB) });
        await SendUntilReceivedAsync(a, b, Message("a", "b", 1), TimeSpan.FromSeconds(10));

        _transports.Remove(b);
        await b.DisposeAsync();
        for (var i = 0; i < 5; i++)
        {
            a.Send(Message("a", "b", 2)); // into the void: peer down
            await Task.Delay(20);
        }

        var (b2, _) = await StartAsync(Options("b", portB));
        var received = await SendUntilReceivedAsync(a, b2, Message("a", "b", 3), TimeSpan.FromSeconds(10));
        Assert.Equal("a", received.From);
    }

    [Fact]
    public async Task Oversized_and_garbage_frames_drop_the_connection_not_the_node()
    {
        var portB = TestPorts.Next();
        var optionsB = Options("b", portB);
        optionsB.MaxFrameBytes = 4096;
        var (b, bLog) = await StartAsync(optionsB);

        // A raw, authenticated peer announcing a 10 MiB frame.
        using (var oversized = await RawAuthenticatedAsync("x", portB))
        {
            var header = new byte[Framing.HeaderBytes];
            Framing.WriteHeader(header, FrameType.Message, 10 * 1024 * 1024);
            await oversized.WriteAsync(header);
            Assert.Equal(0, await ReadUntilClosedAsync(oversized));
        }

        await Eventually.TrueAsync(() => bLog.Count(2007) == 1, TimeSpan.FromSeconds(5), "oversized frame logged");

        // A raw, authenticated peer sending a well-framed but undecodable message.
        using (var garbage = await RawAuthenticatedAsync("y", portB))
        {
            var payload = new byte[100];
            new Random(7).NextBytes(payload);
            payload[0] = RaftMessageCodec.Version;
            payload[1] = 200; // no such message type
            await Framing.WriteFrameAsync(garbage, FrameType.Message, payload, CancellationToken.None);
            Assert.Equal(0, await ReadUntilClosedAsync(garbage));
        }

        await Eventually.TrueAsync(() => bLog.Count(2006) == 1, TimeSpan.FromSeconds(5), "malformed frame logged");

        // A real peer sending a message too big for b: b drops it and the connection; small ones still flow after reconnecting.
        var portA = TestPorts.Next();
        var (a, _) = await StartAsync(Options("a", portA));
        a.UpdatePeers(new Dictionary<string, EndPoint> { ["b"] = new IPEndPoint(IPAddress.Loopback, portB) });
        a.Send(Message("a", "b", 1, entries: 1, dataBytes: 100_000));
        await Eventually.TrueAsync(() => bLog.Count(2007) == 2, TimeSpan.FromSeconds(5), "second oversized frame logged");
        var received = await SendUntilReceivedAsync(a, b, Message("a", "b", 2), TimeSpan.FromSeconds(10));
        Assert.Equal(2, received.Term);
        Assert.False(b.Incoming.TryPeek(out var extra) && extra.Term == 1);
    }

    [Fact]
    public async Task A_full_send_queue_drops_new_messages_and_delivers_the_queued_ones_later()
    {
        var portA = TestPorts.Next();
        var portB = TestPorts.Next();
        var optionsA = Options("a", portA);
        optionsA.SendQueueCapacity = 4;
        var (a, aLog) = await StartAsync(optionsA);
        a.UpdatePeers(new Dictionary<string, EndPoint> { ["b"] = new IPEndPoint(IPAddress.Loopback, portB) });
        for (var i = 1; i <= 100; i++)
        {
            a.Send(Message("a", "b", i)); // b is not listening yet
        }

        Assert.Equal(96, aLog.Count(2009));
        var (b, _) = await StartAsync(Options("b", portB));
        var received = new List<long>();
        for (var i = 0; i < 4; i++)
        {
            received.Add((await ReceiveAsync(b, TimeSpan.FromSeconds(10))).Term);
        }

        Assert.Equal([1L, 2, 3, 4], received);
        await Task.Delay(100);
        Assert.False(b.Incoming.TryRead(out _));
        a.Send(Message("a", "b", 101));
        Assert.Equal(101, (await ReceiveAsync(b, TimeSpan.FromSeconds(10))).Term);
    }

    [Fact]
    public async Task A_peer_using_this_nodes_own_id_is_refused()
    {
        var portB = TestPorts.Next();
        var (_, bLog) = await StartAsync(Options("b", portB));
        await Assert.ThrowsAnyAsync<Exception>(() => RawAuthenticatedAsync("b", portB));
        await Eventually.TrueAsync(() => bLog.Count(2004) == 1, TimeSpan.FromSeconds(5), "duplicate id logged");
        Assert.Contains(bLog.Records, r => r.EventId.Id == 2004 && r.Message.Contains("own id", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Misaddressed_messages_from_an_authenticated_peer_are_dropped()
    {
        var portB = TestPorts.Next();
        var (b, bLog) = await StartAsync(Options("b", portB));
        using var raw = await RawAuthenticatedAsync("x", portB);
        var spoofed = RaftMessageCodec.Encode(Message("someone-else", "b", 1));
        await Framing.WriteFrameAsync(raw, FrameType.Message, spoofed, CancellationToken.None);
        var genuine = RaftMessageCodec.Encode(Message("x", "b", 2));
        await Framing.WriteFrameAsync(raw, FrameType.Message, genuine, CancellationToken.None);
        var received = await ReceiveAsync(b, TimeSpan.FromSeconds(5));
        Assert.Equal(2, received.Term);
        Assert.Equal(1, bLog.Count(2011));
    }

    [Fact]
    public async Task Tls_round_trip_with_a_self_signed_certificate()
    {
        var certPath = Path.Combine(_tempDir, "node.pfx");
        using (var key = RSA.Create(2048))
        {
            var request = new CertificateRequest("CN=pgraft-test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            await File.WriteAllBytesAsync(certPath, cert.Export(X509ContentType.Pkcs12));
        }

        var portA = TestPorts.Next();
        var portB = TestPorts.Next();
        var optionsA = Options("a", portA);
        optionsA.TlsCertificatePath = certPath;
        var optionsB = Options("b", portB);
        optionsB.TlsCertificatePath = certPath;
        var (a, _) = await StartAsync(optionsA);
        var (b, _) = await StartAsync(optionsB);
        a.UpdatePeers(new Dictionary<string, EndPoint> { ["b"] = new IPEndPoint(IPAddress.Loopback, portB) });

        var sent = Message("a", "b", 5) with
        {
            Snapshot = new Snapshot(new SnapshotMetadata(4, 2, Membership.Of("a", "b", "c")), new byte[] { 1, 2, 3 }),
        };
        var received = await SendUntilReceivedAsync(a, b, sent, TimeSpan.FromSeconds(10));
        RaftMessageCodecTests.AssertSame(sent, received);

        // A plain-TCP peer cannot talk to a TLS listener.
        using var plain = new TcpClient();
        await plain.ConnectAsync(IPAddress.Loopback, portB);
        var stream = plain.GetStream();
        var handshake = PeerHandshake.DialerAsync(stream, "p", "b", Secret, [], CancellationToken.None);
        await Assert.ThrowsAnyAsync<Exception>(async () => await handshake.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Options_validation_names_the_setting_and_hides_the_secret()
    {
        var options = Options("a", 27999, Encoding.UTF8.GetBytes("short-secret"));
        var error = Assert.Throws<ArgumentException>(() => new TcpRaftTransport(options, new CapturingLogger<TcpRaftTransport>()));
        Assert.Contains("ClusterSecret", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("short-secret", error.Message, StringComparison.Ordinal);

        var noId = Options("", 27999);
        Assert.Contains("NodeId", Assert.Throws<ArgumentException>(noId.Validate).Message, StringComparison.Ordinal);
        var tinyFrames = Options("a", 27999);
        tinyFrames.MaxFrameBytes = 10;
        Assert.Contains("MaxFrameBytes", Assert.Throws<ArgumentException>(tinyFrames.Validate).Message, StringComparison.Ordinal);
        var missingCert = Options("a", 27999);
        missingCert.TlsCertificatePath = "/nonexistent/cert.pfx";
        Assert.Contains("TlsCertificatePath", Assert.Throws<ArgumentException>(missingCert.Validate).Message, StringComparison.Ordinal);
    }

    private static async Task<NetworkStream> RawAuthenticatedAsync(string id, int port)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await PeerHandshake.DialerAsync(stream, id, "b", Secret, [], CancellationToken.None);
        return stream;
    }

    private static async Task<int> ReadUntilClosedAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var buffer = new byte[16];
        try
        {
            return await stream.ReadAsync(buffer, cts.Token);
        }
        catch (IOException)
        {
            return 0; // reset counts as closed
        }
    }
}

using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Transport;

/// <summary>
/// Raft peer transport over TCP (optionally TLS). Every node dials one outbound connection per peer and sends
/// only on it; what a peer sends arrives on the connection that peer dialled. Both directions are authenticated by
/// <see cref="PeerHandshake"/> before any frame is trusted.
/// </summary>
public sealed class TcpRaftTransport : IRaftTransport
{
    private readonly TcpTransportOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<RaftMessage> _incoming;
    private readonly ConcurrentDictionary<string, PeerSender> _peers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _authFailureLogged = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Task, byte> _inboundTasks = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly X509Certificate2? _certificate;
    private readonly byte[] _ownChannelBinding;
    private readonly object _peersLock = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private int _disposed;

    public TcpRaftTransport(TcpTransportOptions options, ILogger<TcpRaftTransport> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = logger;
        _incoming = Channel.CreateBounded<RaftMessage>(new BoundedChannelOptions(options.IncomingQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        _certificate = options.TlsEnabled ? LoadCertificate(options) : null;
        _ownChannelBinding = _certificate is null ? [] : SHA256.HashData(_certificate.RawData);
    }

    public ChannelReader<RaftMessage> Incoming => _incoming.Reader;

    /// <summary>The address actually bound (useful with port 0).</summary>
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint as IPEndPoint;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var listener = new Socket(_options.BindEndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(_options.BindEndPoint);
            listener.Listen(128);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new InvalidOperationException($"Raft transport cannot listen on {_options.BindEndPoint} (TcpTransportOptions.BindEndPoint): {e.Message}", e);
        }

        _listener = listener;
        _logger.TransportListening(_options.NodeId, listener.LocalEndPoint!, _certificate is not null);
        _acceptLoop = Task.Run(() => AcceptLoopAsync(_stopping.Token), CancellationToken.None);
        lock (_peersLock)
        {
            foreach (var peer in _peers.Values)
            {
                peer.Start();
            }
        }

        return Task.CompletedTask;
    }

    public void Send(RaftMessage message)
    {
        if (_peers.TryGetValue(message.To, out var peer))
        {
            peer.Enqueue(message);
        }
        else
        {
            _logger.UnknownPeer(message.To, message.Type);
        }
    }

    public void UpdatePeers(IReadOnlyDictionary<string, EndPoint> peers)
    {
        List<PeerSender> removed = [];
        lock (_peersLock)
        {
            foreach (var (id, sender) in _peers)
            {
                if (!peers.TryGetValue(id, out var endPoint) || !endPoint.Equals(sender.EndPoint))
                {
                    _peers.TryRemove(id, out _);
                    removed.Add(sender);
                }
            }

            foreach (var (id, endPoint) in peers)
            {
                if (string.Equals(id, _options.NodeId, StringComparison.Ordinal) || _peers.ContainsKey(id))
                {
                    continue;
                }

                var sender = new PeerSender(this, id, endPoint);
                _peers[id] = sender;
                if (_listener is not null && _disposed == 0)
                {
                    sender.Start();
                }
            }
        }

        foreach (var sender in removed)
        {
            _ = sender.DisposeAsync().AsTask();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop;
        }

        PeerSender[] senders;
        lock (_peersLock)
        {
            senders = [.. _peers.Values];
            _peers.Clear();
        }

        foreach (var sender in senders)
        {
            await sender.DisposeAsync();
        }

        await Task.WhenAll(_inboundTasks.Keys);
        _incoming.Writer.TryComplete();
        _certificate?.Dispose();
        _stopping.Dispose();
    }

    private static X509Certificate2 LoadCertificate(TcpTransportOptions options)
    {
        try
        {
            var path = options.TlsCertificatePath!;
            using var loaded = options.TlsKeyPath is not null
                ? X509Certificate2.CreateFromPemFile(path, options.TlsKeyPath)
                : path.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".crt", StringComparison.OrdinalIgnoreCase)
                    ? X509Certificate2.CreateFromPemFile(path)
                    : X509CertificateLoader.LoadPkcs12FromFile(path, options.TlsCertificatePassword);
            if (!loaded.HasPrivateKey)
            {
                throw new ArgumentException($"TLS certificate '{path}' (TcpTransportOptions.TlsCertificatePath) has no private key; give a PKCS#12 file with its key or set TlsKeyPath.");
            }

            // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
            return X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), null);
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"TLS certificate '{options.TlsCertificatePath}' (TcpTransportOptions.TlsCertificatePath) cannot be loaded: {e.Message}", e);
        }
    }

    private async Task AcceptLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptAsync(cancellationToken);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                _logger.AcceptFailed(e.Message);
                continue;
            }

            var task = Task.Run(() => ServeInboundAsync(socket, cancellationToken), CancellationToken.None);
            _inboundTasks[task] = 0;
            _ = task.ContinueWith(t => _inboundTasks.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// TCP_USER_TIMEOUT (unacknowledged data) and keepalive (an idle connection, e.g. the listener's side that only
    /// reads) both close a connection the network has silently cut, within about <paramref name="timeout"/>.
    /// </summary>
    internal static void DetectDeadConnections(Socket socket, TimeSpan timeout)
    {
        const int IpProtoTcp = 6;
        const int TcpUserTimeout = 18;
        var seconds = Math.Max(1, (int)Math.Round(timeout.TotalSeconds / 2));
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, seconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 1);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, Math.Max(1, seconds));
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(IpProtoTcp, TcpUserTimeout, BitConverter.GetBytes((int)timeout.TotalMilliseconds));
        }
    }

    private async Task ServeInboundAsync(Socket socket, CancellationToken cancellationToken)
    {
        socket.NoDelay = true;
        DetectDeadConnections(socket, _options.DeadConnectionTimeout);
        var remote = socket.RemoteEndPoint;
        string? claimedId = null;
        string? peerId = null;
        Stream? stream = null;
        try
        {
            stream = new NetworkStream(socket, ownsSocket: true);
            using (var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                handshakeTimeout.CancelAfter(_options.HandshakeTimeout);
                if (_certificate is not null)
                {
                    var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = ssl;
                    await ssl.AuthenticateAsServerAsync(
                        new SslServerAuthenticationOptions { ServerCertificate = _certificate, ClientCertificateRequired = false },
                        handshakeTimeout.Token);
                }

                peerId = await PeerHandshake.ListenerAsync(
                    stream, _options.NodeId, _options.ClusterSecret, _ownChannelBinding, id => claimedId = id, handshakeTimeout.Token);
            }

            _authFailureLogged.TryRemove("in:" + peerId, out _);
            _logger.PeerAccepted(peerId, remote);
            await ReceiveLoopAsync(stream, peerId, remote, cancellationToken);
        }
        catch (PeerAuthenticationException e)
        {
            if (_authFailureLogged.TryAdd("in:" + (claimedId ?? remote?.ToString() ?? "?"), 0))
            {
                _logger.PeerAuthenticationFailedInbound(remote, e.Message);
            }
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (peerId is null)
        {
            // Once per remote address: a scanner or a misconfigured peer must not flood the log.
            if (_authFailureLogged.TryAdd("hs:" + ((remote as IPEndPoint)?.Address.ToString() ?? "?"), 0))
            {
                _logger.InboundHandshakeFailed(remote, e.Message);
            }
        }
        catch (FrameTooLargeException e)
        {
            _logger.OversizedFrameReceived(peerId!, remote, e.Length, _options.MaxFrameBytes);
        }
        catch (FormatException e)
        {
            _logger.MalformedFrame(peerId!, remote, e.Message);
        }
        catch (Exception e)
        {
            _logger.InboundClosed(peerId!, remote, e.Message);
        }
        finally
        {
            if (stream is not null)
            {
                await stream.DisposeAsync();
            }
            else
            {
                socket.Dispose();
            }
        }
    }

    private async Task ReceiveLoopAsync(Stream stream, string peerId, EndPoint? remote, CancellationToken cancellationToken)
    {
        while (true)
        {
            var frame = await Framing.ReadFrameAsync(stream, _options.MaxFrameBytes, cancellationToken);
            if (frame is null)
            {
                _logger.InboundClosed(peerId, remote, "closed by peer");
                return;
            }

            if (frame.Value.Type != FrameType.Message)
            {
                throw new FormatException($"Unexpected {frame.Value.Type} frame after the handshake.");
            }

            var message = RaftMessageCodec.Decode(frame.Value.Payload);
            if (!string.Equals(message.From, peerId, StringComparison.Ordinal) || !string.Equals(message.To, _options.NodeId, StringComparison.Ordinal))
            {
                _logger.MisaddressedMessage(peerId, message.From, message.To);
                continue;
            }

            if (!_incoming.Writer.TryWrite(message))
            {
                _logger.IncomingQueueFull(peerId, message.Type);
            }
        }
    }

    /// <summary>One peer's outbound side: a bounded queue and a connection loop with capped, jittered back-off.</summary>
    private sealed class PeerSender(TcpRaftTransport owner, string peerId, EndPoint endPoint) : IAsyncDisposable
    {
        private const int FlushThresholdBytes = 1 << 20;

        private readonly Channel<RaftMessage> _queue = Channel.CreateBounded<RaftMessage>(new BoundedChannelOptions(owner._options.SendQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });

        private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(owner._stopping.Token);
        private Task? _loop;

        public EndPoint EndPoint { get; } = endPoint;

        public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);

        public void Enqueue(RaftMessage message)
        {
            if (!_queue.Writer.TryWrite(message))
            {
                owner._logger.SendQueueFull(peerId, message.Type);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _queue.Writer.TryComplete();
            if (_loop is not null)
            {
                await _loop;
            }

            _stop.Dispose();
        }

        private async Task RunAsync(CancellationToken cancellationToken)
        {
            var options = owner._options;
            var delay = options.ReconnectMinDelay;
            while (!cancellationToken.IsCancellationRequested)
            {
                var connected = false;
                string reason;
                try
                {
                    await using var stream = await ConnectAsync(cancellationToken);
                    connected = true;
                    owner._authFailureLogged.TryRemove("out:" + peerId, out _);
                    owner._logger.PeerConnected(peerId, EndPoint);
                    delay = options.ReconnectMinDelay;
                    await PumpAsync(stream, cancellationToken);
                    return;
                }
                catch (Exception) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (PeerAuthenticationException e)
                {
                    reason = e.Message;
                    if (owner._authFailureLogged.TryAdd("out:" + peerId, 0))
                    {
                        owner._logger.PeerAuthenticationFailedOutbound(peerId, EndPoint, e.Message);
                    }
                }
                catch (Exception e)
                {
                    reason = e.Message;
                }

                if (connected)
                {
                    delay = options.ReconnectMinDelay;
                }

                // Full jitter in [delay/2, delay], then double up to the cap.
                var jittered = TimeSpan.FromTicks((long)(delay.Ticks * (0.5 + (Random.Shared.NextDouble() / 2))));
                owner._logger.PeerConnectFailed(peerId, EndPoint, reason, (long)jittered.TotalMilliseconds);
                try
                {
                    await Task.Delay(jittered, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.ReconnectMaxDelay.Ticks));
            }
        }

        private async Task<Stream> ConnectAsync(CancellationToken cancellationToken)
        {
            var options = owner._options;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ConnectTimeout + options.HandshakeTimeout);
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            DetectDeadConnections(socket, options.DeadConnectionTimeout);
            Stream stream;
            try
            {
                await socket.ConnectAsync(EndPoint, timeout.Token);
                stream = new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            try
            {
                var channelBinding = Array.Empty<byte>();
                if (owner._certificate is not null)
                {
                    // Any certificate is accepted here: the HMAC proofs cover a hash of the certificate this side saw,
                    // so a man in the middle with another certificate cannot complete the handshake.
                    var ssl = new SslStream(stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
                    stream = ssl;
                    await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = peerId }, timeout.Token);
                    channelBinding = ssl.RemoteCertificate is { } remote ? SHA256.HashData(remote.GetRawCertData()) : [];
                }

                await PeerHandshake.DialerAsync(stream, options.NodeId, peerId, options.ClusterSecret, channelBinding, timeout.Token);
                return stream;
            }
            catch
            {
                await stream.DisposeAsync();
                throw;
            }
        }

        private async Task PumpAsync(Stream stream, CancellationToken cancellationToken)
        {
            using var connection = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            // The listener never writes after the handshake: a read completing means the peer closed or reset.
            var closeWatch = WatchForCloseAsync(stream, connection);
            var buffer = new System.Buffers.ArrayBufferWriter<byte>(64 * 1024);
            var scratch = new System.Buffers.ArrayBufferWriter<byte>(4 * 1024);
            var maxFrame = owner._options.MaxFrameBytes;
            try
            {
                while (await _queue.Reader.WaitToReadAsync(connection.Token))
                {
                    buffer.ResetWrittenCount();
                    while (buffer.WrittenCount < FlushThresholdBytes && _queue.Reader.TryRead(out var message))
                    {
                        scratch.ResetWrittenCount();
                        RaftMessageCodec.Encode(message, scratch);
                        if (scratch.WrittenCount + 1 > maxFrame)
                        {
                            owner._logger.OversizedFrameNotSent(message.Type, peerId, scratch.WrittenCount + 1L, maxFrame);
                            continue;
                        }

                        Framing.WriteHeader(buffer.GetSpan(Framing.HeaderBytes), FrameType.Message, scratch.WrittenCount);
                        buffer.Advance(Framing.HeaderBytes);
                        buffer.Write(scratch.WrittenSpan);
                    }

                    if (buffer.WrittenCount > 0)
                    {
                        await stream.WriteAsync(buffer.WrittenMemory, connection.Token);
                        await stream.FlushAsync(connection.Token);
                    }
                }
            }
            finally
            {
                await connection.CancelAsync();
                await closeWatch;
            }
        }

        private static async Task WatchForCloseAsync(Stream stream, CancellationTokenSource connection)
        {
            try
            {
                var one = new byte[1];
                _ = await stream.ReadAsync(one, connection.Token);
            }
            catch (Exception)
            {
                // Closed, reset or cancelled: all mean the connection is over.
            }

            await connection.CancelAsync();
        }
    }
}

using System.Net;
using System.Net.Sockets;

namespace PgRaft.Proxy.Tests.Fixtures;

/// <summary>A plain TCP server on a test port that runs a handler for every connection.</summary>
internal sealed class TcpBackend : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<Socket, Task> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public TcpBackend(Func<Socket, Task> handler)
    {
        _handler = handler;
        for (var attempt = 0; ; attempt++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Loopback, TestPorts.Next()));
                socket.Listen(64);
                _listener = socket;
                break;
            }
            catch (SocketException) when (attempt < 5)
            {
                socket.Dispose();
            }
        }

        _acceptLoop = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _acceptLoop;
        _stop.Dispose();
    }

    /// <summary>Reads until the peer's end of stream.</summary>
    public static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[65536];
        int read;
        while ((read = await socket.ReceiveAsync(chunk, SocketFlags.None)) > 0)
        {
            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (connection)
                {
                    try
                    {
                        await _handler(connection);
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException)
                    {
                        // The test decides what a failure means; the connection is just closed.
                    }
                }
            });
        }
    }
}

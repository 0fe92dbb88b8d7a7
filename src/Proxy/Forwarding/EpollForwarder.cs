using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>
/// Forwards every connection from a few dedicated threads, each running its own level-triggered
/// epoll loop over non-blocking sockets (the HAProxy model): one recv and one send per packet, no
/// thread-pool hop, no task per read. The runtime's socket engine never sees these sockets (no
/// async operation is ever started on them), so it does not wake up for their traffic either.
/// Linux on x64 only (the packed epoll_event layout); elsewhere the factory picks <see cref="PooledForwarder"/>.
/// </summary>
internal sealed partial class EpollForwarder : IForwarder, IDisposable
{
    private readonly EpollLoop[] _loops;
    private int _next;

    public EpollForwarder(int bufferSize, int threads)
    {
        _loops = new EpollLoop[threads];
        for (var i = 0; i < threads; i++)
        {
            _loops[i] = new EpollLoop(bufferSize, i);
        }
    }

    public static bool IsSupported(out string reason)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            reason = "the epoll forwarder needs Linux on x64";
            return false;
        }

        reason = "";
        return true;
    }

    public Task ForwardAsync(Socket client, Socket backend, ProxyCounters counters, Action abort)
    {
        var loop = _loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)_loops.Length)];
        return loop.Add(client, backend, counters);
    }

    /// <summary>
    /// Connects without the runtime's socket engine (which would otherwise watch the socket for
    /// ever after and wake a thread-pool thread for every packet the loop forwards).
    /// </summary>
    public async ValueTask ConnectAsync(Socket socket, IPEndPoint address, CancellationToken cancellationToken)
    {
        socket.Blocking = false;
        try
        {
            socket.Connect(address);
            return;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
            // Connect in progress: wait for the socket to become writable.
        }

        var loop = _loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)_loops.Length)];
        await loop.WaitWritableAsync(socket, cancellationToken);
        var error = (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        if (error != 0)
        {
            throw new SocketException(error);
        }
    }

    public void Dispose()
    {
        foreach (var loop in _loops)
        {
            loop.Dispose();
        }
    }
}

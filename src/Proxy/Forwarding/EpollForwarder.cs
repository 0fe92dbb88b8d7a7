using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>
/// Serves connections from a few dedicated threads, each running its own level-triggered epoll loop
/// over non-blocking sockets (the HAProxy model). In the listener's fast path a loop accepts the
/// client (accept4), the listener routes it, and the least busy loop connects the backend and
/// forwards both ways until the end: no task, exception or thread hop per connection, one recv and
/// one send per packet. The runtime's socket engine never sees these sockets (no async operation is
/// ever started on them), so it does not wake up for their traffic either. <see cref="ForwardAsync"/>
/// and <see cref="ConnectAsync"/> serve the listener's slow path (held clients, DNS names).
/// Linux on x64 only (the packed epoll_event layout); elsewhere the factory picks <see cref="PooledForwarder"/>.
/// </summary>
internal sealed partial class EpollForwarder : IForwarder, IDisposable
{
    private readonly EpollLoop[] _loops;
    private int _next;

    public EpollForwarder(EpollLoopSettings settings, int threads)
    {
        _loops = new EpollLoop[threads];
        for (var i = 0; i < threads; i++)
        {
            _loops[i] = new EpollLoop(settings, i);
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

    /// <summary>Connections each loop forwards (or is connecting) now.</summary>
    public int[] LoadPerLoop => [.. _loops.Select(loop => loop.Load)];

    /// <summary>Kernel thread id of each loop (0 until it has started).</summary>
    public int[] LoopThreadIds => [.. _loops.Select(loop => loop.NativeThreadId)];

    public Task ForwardAsync(Socket client, Socket backend, ProxyCounters counters, Action abort)
    {
        var loop = LeastLoaded(null);
        loop.Reserve();
        return loop.Add(client, backend, counters);
    }

    /// <summary>Every loop accepts clients on <paramref name="socket"/> (set non-blocking) and hands them to <paramref name="acceptor"/>.</summary>
    public void Listen(Socket socket, IEpollAcceptor acceptor)
    {
        socket.Blocking = false;
        foreach (var loop in _loops)
        {
            loop.Listen(socket, acceptor);
        }
    }

    /// <summary>Completes once no loop accepts on the listening socket any more.</summary>
    public Task StopListeningAsync() => Task.WhenAll(_loops.Select(loop => loop.StopListeningAsync()));

    /// <summary>
    /// Connects and forwards <paramref name="session"/> on the loop with the fewest connections,
    /// <paramref name="acceptedOn"/> (the caller's loop) on a tie: there without any thread hop.
    /// </summary>
    public void Start(IEpollSession session, EpollLoop acceptedOn)
    {
        var loop = LeastLoaded(acceptedOn);
        loop.Reserve();
        if (loop.IsLoopThread)
        {
            loop.StartSession(session);
        }
        else
        {
            loop.Post(() => loop.StartSession(session));
        }
    }

    private EpollLoop LeastLoaded(EpollLoop? preferred)
    {
        var best = preferred ?? _loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)_loops.Length)];
        var bestLoad = best.Load;
        foreach (var loop in _loops)
        {
            var load = loop.Load;
            if (load < bestLoad)
            {
                best = loop;
                bestLoad = load;
            }
        }

        return best;
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

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>
/// One thread, one epoll instance, many connections. Everything but the thread-safe entry points
/// (<see cref="Add"/>, <see cref="WaitWritableAsync"/>, <see cref="Listen"/>, <see cref="StopListeningAsync"/>,
/// <see cref="Post"/>) runs on the loop thread: accepting, connecting to the backend, forwarding, ending.
/// </summary>
internal sealed partial class EpollLoop : IDisposable
{
    private const uint EpollIn = 0x001;
    private const uint EpollOut = 0x004;
    private const uint EpollErr = 0x008;
    private const uint EpollHup = 0x010;
    private const uint EpollRdHup = 0x2000;
    private const uint EpollExclusive = 1u << 28;
    private const int EpollCtlAdd = 1;
    private const int EpollCtlDel = 2;
    private const int EpollCtlMod = 3;
    private const int EAGAIN = 11;
    private const int EINTR = 4;
    private const int EINPROGRESS = 115;
    private const int ECONNABORTED = 103;
    private const int ECONNREFUSED = 111;
    private const int MsgNoSignal = 0x4000;
    private const int ShutWrite = 1;
    private const int SockNonBlock = 0x800;
    private const int SockCloexec = 0x80000;
    private const int SolSocket = 1;
    private const int SoError = 4;
    private const int MaxEvents = 256;
    private const int SockaddrUnSize = 110;
    private const int AcceptsPerWakeUp = 64;
    private const long AcceptRetryMilliseconds = 50;
    private const ulong WakeToken = ulong.MaxValue;
    private const ulong ListenToken = ulong.MaxValue - 1;

    private readonly int _bufferSize;
    private readonly EpollLoopSettings _settings;
    private readonly int _index;
    private readonly int _epoll;
    private readonly int _wake;
    private readonly ConcurrentQueue<Pair> _incoming = new();
    private readonly ConcurrentQueue<ConnectWaiter> _waiterChanges = new();
    private readonly ConcurrentQueue<Action> _posted = new();
    private readonly Dictionary<long, Pair> _pairs = [];
    private readonly Dictionary<long, ConnectWaiter> _waiters = [];
    private readonly PriorityQueue<Pair, long> _connectDeadlines = new();
    private readonly Thread _thread;
    private ListenRegistration? _listen;
    private long _nextId;
    private int _load;
    private int _nativeThreadId;
    private volatile bool _stopping;

    public EpollLoop(EpollLoopSettings settings, int index)
    {
        _settings = settings;
        _bufferSize = settings.BufferSize;
        _index = index;
        _epoll = epoll_create1(SockCloexec);
        _wake = eventfd(0, SockCloexec | SockNonBlock);
        if (_epoll < 0 || _wake < 0)
        {
            throw new IOException($"epoll_create1/eventfd failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        Control(EpollCtlAdd, _wake, EpollIn, WakeToken);
        _thread = new Thread(Run) { IsBackground = true, Name = $"pgraft-proxy-epoll-{index}" };
        _thread.Start();
    }

    /// <summary>Connections this loop forwards or is about to (reserved), for spreading new ones over loops.</summary>
    public int Load => Volatile.Read(ref _load);

    public bool IsLoopThread => Thread.CurrentThread == _thread;

    /// <summary>The loop thread's kernel id (for /proc and diagnostics); 0 until it has started.</summary>
    public int NativeThreadId => Volatile.Read(ref _nativeThreadId);

    /// <summary>Counts a connection that is about to be handed to this loop (<see cref="Add"/> or <see cref="StartSession"/>).</summary>
    public void Reserve() => Interlocked.Increment(ref _load);

    public Task Add(Socket client, Socket backend, ProxyCounters counters)
    {
        var pair = new Pair(client, backend, counters) { Completion = new(TaskCreationOptions.RunContinuationsAsynchronously) };
        _incoming.Enqueue(pair);
        Wake();
        return pair.Completion.Task;
    }

    /// <summary>Runs <paramref name="action"/> on the loop thread soon.</summary>
    public void Post(Action action)
    {
        _posted.Enqueue(action);
        Wake();
    }

    /// <summary>Starts watching <paramref name="socket"/> (listening, non-blocking) for clients; shared by every loop (EPOLLEXCLUSIVE).</summary>
    public void Listen(Socket socket, IEpollAcceptor acceptor) => Post(() =>
    {
        var registration = new ListenRegistration(socket, acceptor);
        registration.Open();
        _listen = registration;
        WatchListening(registration);
    });

    /// <summary>Stops accepting; completes once this loop will accept no more clients.</summary>
    public Task StopListeningAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            EndListening();
            done.TrySetResult();
        });
        return _stopping ? Task.CompletedTask : done.Task;
    }

    /// <summary>
    /// Completes when a non-blocking connect in progress on <paramref name="socket"/> has finished
    /// (successfully or not: the caller reads SO_ERROR), without the runtime's socket engine.
    /// </summary>
    public Task WaitWritableAsync(Socket socket, CancellationToken cancellationToken)
    {
        var waiter = new ConnectWaiter(socket);
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Cancellation = cancellationToken.Register(() =>
            {
                waiter.CancelRequested = true;
                _waiterChanges.Enqueue(waiter);
                Wake();
            });
        }

        _waiterChanges.Enqueue(waiter);
        Wake();
        return waiter.Completion.Task;
    }

    /// <summary>
    /// Loop thread only, after <see cref="Reserve"/>: connects the session's backend without blocking
    /// and, once connected, forwards both ways. Every outcome is reported through the session.
    /// </summary>
    public void StartSession(IEpollSession session)
    {
        var pair = new Pair(session.Client, session.Backend, session.Counters) { Session = session };
        if (_stopping)
        {
            Interlocked.Decrement(ref _load);
            session.OnConnectFailed("the proxy is stopping");
            return;
        }

        try
        {
            pair.Open(_bufferSize);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            pair.Release();
            Interlocked.Decrement(ref _load);
            session.OnConnectFailed(e.Message);
            return;
        }

        pair.Id = ++_nextId;
        pair.Connecting = true;
        _pairs.Add(pair.Id, pair);
        var errno = StartConnect(pair.BackendFd, session.BackendAddress);
        if (errno == 0 && !TryControl(EpollCtlAdd, pair.BackendFd, EpollOut, ((ulong)pair.Id << 1) | 1))
        {
            errno = Marshal.GetLastPInvokeError();
        }

        if (errno != 0)
        {
            FailConnect(pair, Marshal.GetPInvokeErrorMessage(errno));
            return;
        }

        _connectDeadlines.Enqueue(pair, Environment.TickCount64 + (long)Math.Ceiling(session.ConnectTimeout.TotalMilliseconds));
    }

    public void Dispose()
    {
        _stopping = true;
        Wake();
        _thread.Join(TimeSpan.FromSeconds(5));
    }

    private unsafe void Wake()
    {
        ulong one = 1;
        _ = write(_wake, &one, 8);
    }

    private unsafe void Run()
    {
        ApplyThreadSettings();
        var events = stackalloc EpollEvent[MaxEvents];
        var busyPollTicks = (long)(_settings.BusyPoll.TotalSeconds * Stopwatch.Frequency);
        var busyUntil = 0L;
        while (!_stopping)
        {
            int count;
            if (busyPollTicks > 0 && Stopwatch.GetTimestamp() < busyUntil)
            {
                // Busy-poll window: the answer to what was just forwarded usually comes within
                // microseconds; catching it without sleeping saves a wake-up on its way back.
                count = epoll_wait(_epoll, events, MaxEvents, 0);
                if (count == 0)
                {
                    continue;
                }
            }
            else
            {
                count = epoll_wait(_epoll, events, MaxEvents, NextTimeout());
            }

            if (count > 0 && busyPollTicks > 0)
            {
                busyUntil = Stopwatch.GetTimestamp() + busyPollTicks;
            }

            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR)
                {
                    continue;
                }

                break;
            }

            for (var i = 0; i < count; i++)
            {
                var data = events[i].Data;
                if (data == WakeToken)
                {
                    ulong ignored;
                    _ = read(_wake, &ignored, 8);
                    AdmitIncoming();
                    AdmitWaiterChanges();
                    RunPosted();
                    continue;
                }

                if (data == ListenToken)
                {
                    Accept();
                    continue;
                }

                if (_waiters.Remove((long)(data >> 1), out var waiter))
                {
                    EndWait(waiter, cancelled: false);
                }
                else if (_pairs.TryGetValue((long)(data >> 1), out var pair))
                {
                    if (pair.Connecting)
                    {
                        CompleteConnect(pair, events[i].Events);
                    }
                    else
                    {
                        OnEvent(pair, (data & 1) == 0 ? Side.Client : Side.Backend, events[i].Events);
                    }
                }
            }

            if (_connectDeadlines.Count > 0 || _listen is { PausedUntil: > 0 })
            {
                RunTimers();
            }

            if (_pinCpu >= 0 && _pinned != Load >= _settings.PinMinConnections)
            {
                UpdatePinning();
            }
        }

        EndListening();
        RunPosted();
        foreach (var waiter in _waiters.Values.ToArray())
        {
            EndWait(waiter, cancelled: true);
        }

        foreach (var pair in _pairs.Values.ToArray())
        {
            if (pair.Connecting)
            {
                FailConnect(pair, "the proxy is stopping");
            }
            else
            {
                Finish(pair, new ObjectDisposedException("The proxy is stopping."));
            }
        }

        _ = close(_epoll);
        _ = close(_wake);
    }

    /// <summary>Milliseconds until the next connect deadline or accept retry; -1 (forever) when there is none.</summary>
    private int NextTimeout()
    {
        var next = long.MaxValue;
        if (_connectDeadlines.TryPeek(out _, out var deadline))
        {
            next = deadline;
        }

        if (_listen is { PausedUntil: > 0 } listen)
        {
            next = Math.Min(next, listen.PausedUntil);
        }

        return next == long.MaxValue ? -1 : (int)Math.Clamp(next - Environment.TickCount64, 0, int.MaxValue);
    }

    private void RunTimers()
    {
        var now = Environment.TickCount64;
        while (_connectDeadlines.TryPeek(out var pair, out var deadline) && deadline <= now)
        {
            _connectDeadlines.Dequeue();
            if (pair.Connecting && _pairs.ContainsKey(pair.Id))
            {
                FailConnect(pair, $"no answer within {pair.Session!.ConnectTimeout.TotalMilliseconds:0} ms");
            }
        }

        if (_listen is { PausedUntil: > 0 } listen && listen.PausedUntil <= now)
        {
            listen.PausedUntil = 0;
            WatchListening(listen);
        }
    }

    private void WatchListening(ListenRegistration listen)
    {
        // EPOLLEXCLUSIVE: a new client wakes one loop, not all; kernels before 4.5 refuse it (EINVAL).
        if (!TryControl(EpollCtlAdd, listen.Fd, EpollIn | EpollExclusive, ListenToken)
            && !TryControl(EpollCtlAdd, listen.Fd, EpollIn, ListenToken))
        {
            PauseListening(Marshal.GetLastPInvokeError());
        }
    }

    private void RunPosted()
    {
        while (_posted.TryDequeue(out var action))
        {
            action();
        }
    }

    private unsafe void Accept()
    {
        if (_listen is not { PausedUntil: 0 } listen)
        {
            return;
        }

        for (var i = 0; i < AcceptsPerWakeUp; i++)
        {
            var fd = accept4(listen.Fd, null, null, SockNonBlock | SockCloexec);
            if (fd >= 0)
            {
                listen.Acceptor.OnAccepted(this, fd);
                continue;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == EAGAIN)
            {
                return;
            }

            if (errno is EINTR or ECONNABORTED)
            {
                continue;
            }

            // EMFILE and friends: the port stays readable, so stop watching it for a moment (the
            // connections we have keep being served) instead of spinning on it.
            TryControl(EpollCtlDel, listen.Fd, 0, 0);
            PauseListening(errno);
            return;
        }
    }

    private void PauseListening(int errno)
    {
        if (_listen is { } listen)
        {
            listen.PausedUntil = Environment.TickCount64 + AcceptRetryMilliseconds;
            listen.Acceptor.OnAcceptFailed(errno);
        }
    }

    private void EndListening()
    {
        if (_listen is { } listen)
        {
            _listen = null;
            if (listen.PausedUntil == 0)
            {
                TryControl(EpollCtlDel, listen.Fd, 0, 0);
            }

            listen.Release();
        }
    }

    /// <summary>Starts a non-blocking connect; 0 when it is under way (or done), else the errno.</summary>
    private static unsafe int StartConnect(int fd, EndPoint target)
    {
        var address = stackalloc byte[SockaddrUnSize];
        var span = new Span<byte>(address, SockaddrUnSize);
        span.Clear();
        int length;
        if (target is UnixDomainSocketEndPoint unix)
        {
            // sockaddr_un: AF_UNIX, then the path, NUL-terminated (validated to fit by the options).
            *(ushort*)address = 1;
            length = 2 + System.Text.Encoding.UTF8.GetBytes(unix.ToString(), span[2..^1]) + 1;
            return connect(fd, address, length) == 0 ? 0 : ConnectErrno();
        }

        var endPoint = (IPEndPoint)target;
        address[2] = (byte)(endPoint.Port >> 8);
        address[3] = (byte)endPoint.Port;
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            *(ushort*)address = 2;
            endPoint.Address.TryWriteBytes(span.Slice(4, 4), out _);
            length = 16;
        }
        else
        {
            *(ushort*)address = 10;
            endPoint.Address.TryWriteBytes(span.Slice(8, 16), out _);
            *(uint*)(address + 24) = (uint)endPoint.Address.ScopeId;
            length = 28;
        }

        return connect(fd, address, length) == 0 ? 0 : ConnectErrno();
    }

    private static int ConnectErrno()
    {
        // EINTR: the connect goes on in the background, exactly like EINPROGRESS. (A Unix socket connects
        // at once or fails: EAGAIN there means the server's listen queue is full, a failure like a refusal.)
        var errno = Marshal.GetLastPInvokeError();
        return errno is EINPROGRESS or EINTR ? 0 : errno;
    }

    private unsafe void CompleteConnect(Pair pair, uint events)
    {
        int error;
        var length = sizeof(int);
        if (getsockopt(pair.BackendFd, SolSocket, SoError, &error, &length) != 0)
        {
            error = Marshal.GetLastPInvokeError();
        }

        if (error == 0 && (events & (EpollErr | EpollHup)) != 0)
        {
            error = ECONNREFUSED;
        }

        if (error != 0)
        {
            FailConnect(pair, Marshal.GetPInvokeErrorMessage(error));
            return;
        }

        pair.Connecting = false;
        pair.Session!.OnConnected();
        pair.ClientInterest = EpollIn | EpollRdHup;
        pair.BackendInterest = EpollIn | EpollRdHup;
        if (!TryControl(EpollCtlMod, pair.BackendFd, pair.BackendInterest, ((ulong)pair.Id << 1) | 1)
            || !TryControl(EpollCtlAdd, pair.ClientFd, pair.ClientInterest, (ulong)pair.Id << 1))
        {
            Finish(pair, new SocketException(Marshal.GetLastPInvokeError()));
        }
    }

    private void FailConnect(Pair pair, string reason)
    {
        pair.Connecting = false;
        if (_pairs.Remove(pair.Id))
        {
            TryControl(EpollCtlDel, pair.BackendFd, 0, 0);
        }

        pair.Release();
        Interlocked.Decrement(ref _load);
        pair.Session!.OnConnectFailed(reason);
    }

    private void AdmitIncoming()
    {
        while (_incoming.TryDequeue(out var pair))
        {
            try
            {
                pair.Open(_bufferSize);
                pair.Id = ++_nextId;
                _pairs.Add(pair.Id, pair);
                pair.ClientInterest = EpollIn | EpollRdHup;
                pair.BackendInterest = EpollIn | EpollRdHup;
                Control(EpollCtlAdd, pair.ClientFd, pair.ClientInterest, (ulong)pair.Id << 1);
                Control(EpollCtlAdd, pair.BackendFd, pair.BackendInterest, ((ulong)pair.Id << 1) | 1);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
            {
                Finish(pair, e);
            }
        }
    }

    private void AdmitWaiterChanges()
    {
        while (_waiterChanges.TryDequeue(out var waiter))
        {
            if (waiter.Id == 0 && !waiter.CancelRequested)
            {
                waiter.Open();
                waiter.Id = ++_nextId;
                _waiters.Add(waiter.Id, waiter);
                if (!TryControl(EpollCtlAdd, waiter.Fd, EpollOut, (ulong)waiter.Id << 1))
                {
                    _waiters.Remove(waiter.Id);
                    waiter.Release();
                    waiter.Completion.TrySetException(new SocketException(Marshal.GetLastPInvokeError()));
                }
            }
            else if (waiter.CancelRequested && (waiter.Id == 0 || _waiters.Remove(waiter.Id)))
            {
                EndWait(waiter, cancelled: true);
            }
        }
    }

    private void EndWait(ConnectWaiter waiter, bool cancelled)
    {
        if (waiter.Id != 0)
        {
            TryControl(EpollCtlDel, waiter.Fd, 0, 0);
        }

        waiter.Release();
        waiter.Cancellation.Dispose();
        if (cancelled)
        {
            waiter.Completion.TrySetCanceled();
        }
        else
        {
            waiter.Completion.TrySetResult();
        }
    }

    private void OnEvent(Pair pair, Side side, uint events)
    {
        if ((events & EpollErr) != 0)
        {
            Finish(pair, new SocketException((int)SocketError.ConnectionReset));
            return;
        }

        // Data from this side, or room to write to it.
        var readFrom = side == Side.Client ? pair.ToServer : pair.ToClient;
        var writeTo = side == Side.Client ? pair.ToClient : pair.ToServer;
        var error = 0;
        if ((events & EpollOut) != 0)
        {
            error = Flush(writeTo);
        }

        if (error == 0 && (events & (EpollIn | EpollHup | EpollRdHup)) != 0)
        {
            error = Read(pair, readFrom);
        }

        if (error == 0 && (events & EpollHup) != 0 && readFrom.Ended && writeTo.Pending > 0)
        {
            // Both ways shut: what is still to be written here can never be delivered.
            error = (int)SocketError.ConnectionReset;
        }

        if (error != 0)
        {
            Finish(pair, new SocketException(error));
            return;
        }

        if (pair.ToServer.Ended && pair.ToClient.Ended)
        {
            Finish(pair, null);
            return;
        }

        UpdateInterest(pair);
    }

    /// <summary>Reads once from the direction's source (if nothing is pending) and forwards it. Returns an errno or 0.</summary>
    private static unsafe int Read(Pair pair, Direction direction)
    {
        if (direction.Ended || direction.Pending > 0)
        {
            return 0;
        }

        nint received;
        fixed (byte* buffer = direction.Buffer)
        {
            do
            {
                received = recv(direction.SourceFd, buffer, (nuint)direction.Buffer!.Length, 0);
            }
            while (received < 0 && Marshal.GetLastPInvokeError() == EINTR);
        }

        if (received > 0)
        {
            direction.Start = 0;
            direction.Pending = (int)received;
            pair.Counters.AddBytes(direction.ToServer, (int)received);
            return Flush(direction);
        }

        if (received == 0)
        {
            direction.Ended = true;
            _ = shutdown(direction.DestinationFd, ShutWrite);
            return 0;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == EAGAIN ? 0 : errno;
    }

    private static unsafe int Flush(Direction direction)
    {
        while (direction.Pending > 0)
        {
            nint sent;
            fixed (byte* buffer = direction.Buffer)
            {
                sent = send(direction.DestinationFd, buffer + direction.Start, (nuint)direction.Pending, MsgNoSignal);
            }

            if (sent > 0)
            {
                direction.Start += (int)sent;
                direction.Pending -= (int)sent;
                continue;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR)
            {
                continue;
            }

            return errno == EAGAIN ? 0 : errno;
        }

        return 0;
    }

    private void UpdateInterest(Pair pair)
    {
        // Read a side only when what was read from it is written (back-pressure); watch for room only while something waits.
        var client = (pair.ToServer.Ended || pair.ToServer.Pending > 0 ? 0 : EpollIn | EpollRdHup) | (pair.ToClient.Pending > 0 ? EpollOut : 0);
        var backend = (pair.ToClient.Ended || pair.ToClient.Pending > 0 ? 0 : EpollIn | EpollRdHup) | (pair.ToServer.Pending > 0 ? EpollOut : 0);
        if (client != pair.ClientInterest)
        {
            pair.ClientInterest = client;
            Control(EpollCtlMod, pair.ClientFd, client, (ulong)pair.Id << 1);
        }

        if (backend != pair.BackendInterest)
        {
            pair.BackendInterest = backend;
            Control(EpollCtlMod, pair.BackendFd, backend, ((ulong)pair.Id << 1) | 1);
        }
    }

    private void Finish(Pair pair, Exception? error)
    {
        if (pair.Id != 0 && _pairs.Remove(pair.Id))
        {
            TryControl(EpollCtlDel, pair.ClientFd, 0, 0);
            TryControl(EpollCtlDel, pair.BackendFd, 0, 0);
        }

        pair.Release();
        Interlocked.Decrement(ref _load);
        if (pair.Session is { } session)
        {
            session.OnForwardingEnded(error);
        }
        else if (error is null)
        {
            pair.Completion!.TrySetResult();
        }
        else
        {
            pair.Completion!.TrySetException(error);
        }
    }

    private void Control(int operation, int fd, uint interest, ulong data)
    {
        if (!TryControl(operation, fd, interest, data))
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
    }

    private unsafe bool TryControl(int operation, int fd, uint interest, ulong data)
    {
        var change = new EpollEvent { Events = interest, Data = data };
        return epoll_ctl(_epoll, operation, fd, &change) == 0;
    }

    private enum Side
    {
        Client,
        Backend,
    }
}

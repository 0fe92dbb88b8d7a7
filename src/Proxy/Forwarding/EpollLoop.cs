using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>One thread, one epoll instance, many connections. Everything but <see cref="Add"/> runs on the loop thread.</summary>
internal sealed partial class EpollLoop : IDisposable
{
    private const uint EpollIn = 0x001;
    private const uint EpollOut = 0x004;
    private const uint EpollErr = 0x008;
    private const uint EpollHup = 0x010;
    private const uint EpollRdHup = 0x2000;
    private const int EpollCtlAdd = 1;
    private const int EpollCtlDel = 2;
    private const int EpollCtlMod = 3;
    private const int EAGAIN = 11;
    private const int EINTR = 4;
    private const int MsgNoSignal = 0x4000;
    private const int ShutWrite = 1;
    private const int MaxEvents = 256;
    private const ulong WakeToken = ulong.MaxValue;

    private readonly int _bufferSize;
    private readonly int _epoll;
    private readonly int _wake;
    private readonly ConcurrentQueue<Pair> _incoming = new();
    private readonly ConcurrentQueue<ConnectWaiter> _waiterChanges = new();
    private readonly Dictionary<long, Pair> _pairs = [];
    private readonly Dictionary<long, ConnectWaiter> _waiters = [];
    private readonly Thread _thread;
    private long _nextId;
    private volatile bool _stopping;

    public EpollLoop(int bufferSize, int index)
    {
        _bufferSize = bufferSize;
        _epoll = epoll_create1(0x80000);
        _wake = eventfd(0, 0x80000 | 0x800);
        if (_epoll < 0 || _wake < 0)
        {
            throw new IOException($"epoll_create1/eventfd failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        Control(EpollCtlAdd, _wake, EpollIn, WakeToken);
        _thread = new Thread(Run) { IsBackground = true, Name = $"pgraft-proxy-epoll-{index}" };
        _thread.Start();
    }

    public Task Add(Socket client, Socket backend, ProxyCounters counters)
    {
        var pair = new Pair(client, backend, counters);
        _incoming.Enqueue(pair);
        Wake();
        return pair.Completion.Task;
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
        var events = stackalloc EpollEvent[MaxEvents];
        while (!_stopping)
        {
            var count = epoll_wait(_epoll, events, MaxEvents, -1);
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
                    continue;
                }

                if (_waiters.Remove((long)(data >> 1), out var waiter))
                {
                    EndWait(waiter, cancelled: false);
                }
                else if (_pairs.TryGetValue((long)(data >> 1), out var pair))
                {
                    OnEvent(pair, (data & 1) == 0 ? Side.Client : Side.Backend, events[i].Events);
                }
            }
        }

        foreach (var waiter in _waiters.Values.ToArray())
        {
            EndWait(waiter, cancelled: true);
        }

        foreach (var pair in _pairs.Values.ToArray())
        {
            Finish(pair, new ObjectDisposedException("The proxy is stopping."));
        }

        _ = close(_epoll);
        _ = close(_wake);
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
            error = Flush(pair, writeTo);
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
            return Flush(pair, direction);
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

    private static unsafe int Flush(Pair pair, Direction direction)
    {
        _ = pair;
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
        if (error is null)
        {
            pair.Completion.TrySetResult();
        }
        else
        {
            pair.Completion.TrySetException(error);
        }
    }

    private unsafe void Control(int operation, int fd, uint interest, ulong data)
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

    /// <summary>One direction of a pair: its buffer and what of it is still to be written.</summary>
    private sealed class Direction(bool toServer)
    {
        public bool ToServer { get; } = toServer;

        public int SourceFd { get; set; }

        public int DestinationFd { get; set; }

        public byte[]? Buffer { get; set; }

        public int Start { get; set; }

        public int Pending { get; set; }

        public bool Ended { get; set; }
    }

    private sealed class ConnectWaiter(Socket socket)
    {
        private bool _referenced;

        public long Id { get; set; }

        public int Fd { get; private set; }

        public volatile bool CancelRequested;

        public CancellationTokenRegistration Cancellation { get; set; }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open()
        {
            socket.SafeHandle.DangerousAddRef(ref _referenced);
            Fd = (int)socket.SafeHandle.DangerousGetHandle();
        }

        public void Release()
        {
            if (_referenced)
            {
                _referenced = false;
                socket.SafeHandle.DangerousRelease();
            }
        }
    }

    private sealed class Pair(Socket client, Socket backend, ProxyCounters counters)
    {
        private bool _clientReferenced;
        private bool _backendReferenced;

        public long Id { get; set; }

        public ProxyCounters Counters { get; } = counters;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Direction ToServer { get; } = new(true);

        public Direction ToClient { get; } = new(false);

        public int ClientFd { get; private set; }

        public int BackendFd { get; private set; }

        public uint ClientInterest { get; set; }

        public uint BackendInterest { get; set; }

        public void Open(int bufferSize)
        {
            // Holding the handles keeps the descriptor numbers ours until Release, even if the sockets are disposed meanwhile.
            client.SafeHandle.DangerousAddRef(ref _clientReferenced);
            backend.SafeHandle.DangerousAddRef(ref _backendReferenced);
            client.Blocking = false;
            backend.Blocking = false;
            ClientFd = (int)client.SafeHandle.DangerousGetHandle();
            BackendFd = (int)backend.SafeHandle.DangerousGetHandle();
            ToServer.SourceFd = ClientFd;
            ToServer.DestinationFd = BackendFd;
            ToClient.SourceFd = BackendFd;
            ToClient.DestinationFd = ClientFd;
            ToServer.Buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
            ToClient.Buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
        }

        public void Release()
        {
            if (_clientReferenced)
            {
                _clientReferenced = false;
                client.SafeHandle.DangerousRelease();
            }

            if (_backendReferenced)
            {
                _backendReferenced = false;
                backend.SafeHandle.DangerousRelease();
            }

            foreach (var direction in new[] { ToServer, ToClient })
            {
                if (direction.Buffer is { } buffer)
                {
                    direction.Buffer = null;
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
    }

    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    private struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int epoll_ctl(int epoll, int operation, int fd, EpollEvent* change);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int epoll_wait(int epoll, EpollEvent* events, int maxEvents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint initial, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint read(int fd, void* buffer, nuint length);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint write(int fd, void* buffer, nuint length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}

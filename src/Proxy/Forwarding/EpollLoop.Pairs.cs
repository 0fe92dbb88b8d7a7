using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

internal sealed partial class EpollLoop
{
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

    /// <summary>A listening socket the loop accepts on; holds its handle so the descriptor stays ours until released.</summary>
    private sealed class ListenRegistration(Socket socket, IEpollAcceptor acceptor) : RawSocket(socket)
    {
        public IEpollAcceptor Acceptor { get; } = acceptor;

        /// <summary>Environment.TickCount64 at which to watch the port again after accept failed; 0 while watched.</summary>
        public long PausedUntil { get; set; }
    }

    /// <summary>A socket the loop uses by its raw descriptor: holds a reference on the handle from Open to Release.</summary>
    private abstract class RawSocket(Socket socket)
    {
        private bool _referenced;

        public int Fd { get; private set; }

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

    private sealed class ConnectWaiter(Socket socket) : RawSocket(socket)
    {
        public long Id { get; set; }

        public volatile bool CancelRequested;

        public CancellationTokenRegistration Cancellation { get; set; }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A client and its backend. Either a session (driven from accept to end by the loop) or a task completion (<see cref="Add"/>).</summary>
    private sealed class Pair(Socket client, Socket backend, ProxyCounters counters)
    {
        private bool _clientReferenced;
        private bool _backendReferenced;

        public long Id { get; set; }

        public ProxyCounters Counters { get; } = counters;

        public IEpollSession? Session { get; init; }

        public TaskCompletionSource? Completion { get; init; }

        /// <summary>The backend connect is under way (session pairs only).</summary>
        public bool Connecting { get; set; }

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

            ReturnBuffer(ToServer);
            ReturnBuffer(ToClient);
        }

        private static void ReturnBuffer(Direction direction)
        {
            if (direction.Buffer is { } buffer)
            {
                direction.Buffer = null;
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    private struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }
}

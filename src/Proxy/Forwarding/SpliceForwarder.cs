using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>
/// Linux zero-copy forwarding: splice(2) moves bytes from the source socket into a pipe and from
/// the pipe into the destination socket without copying them to user space. Waiting uses the
/// runtime's own epoll engine (a one-byte MSG_PEEK receive waits for readability; a full
/// destination is drained through a pooled buffer and an ordinary async send), so no thread blocks
/// and nothing spins.
/// </summary>
internal sealed partial class SpliceForwarder(int pipeSize) : DirectionalForwarder
{
    private const int EAGAIN = 11;
    private const int EINTR = 4;
    private const uint SpliceMove = 1;
    private const uint SpliceNonBlock = 2;
    private const int PipeNonBlockCloExec = 0x800 | 0x80000;
    private const int FcntlSetPipeSize = 1031;

    public static bool IsSupported(out string reason)
    {
        if (!OperatingSystem.IsLinux())
        {
            reason = "splice(2) exists only on Linux";
            return false;
        }

        try
        {
            var (read, write) = CreatePipe(4096);
            Close(read);
            Close(write);
            reason = "";
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or IOException)
        {
            reason = e.Message;
            return false;
        }
    }

    protected override async Task ForwardOneWayAsync(Socket from, Socket to, bool toServer, ProxyCounters counters)
    {
        var (pipeRead, pipeWrite) = CreatePipe(pipeSize);
        var peek = new byte[1];
        byte[]? drainBuffer = null;
        var fromHandle = false;
        var toHandle = false;
        try
        {
            // Hold both descriptors: a concurrent Close then only shuts the sockets down (ending the
            // splices) and the numbers cannot be reused by another connection while we use them.
            from.SafeHandle.DangerousAddRef(ref fromHandle);
            to.SafeHandle.DangerousAddRef(ref toHandle);
            from.Blocking = false;
            to.Blocking = false;
            var fromFd = (int)from.SafeHandle.DangerousGetHandle();
            var toFd = (int)to.SafeHandle.DangerousGetHandle();
            while (true)
            {
                var moved = Splice(fromFd, pipeWrite, pipeSize);
                if (moved == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                if (moved < 0)
                {
                    // Nothing to read: let the runtime's epoll engine wait for data without consuming it.
                    if (await from.ReceiveAsync(peek, SocketFlags.Peek) == 0)
                    {
                        to.Shutdown(SocketShutdown.Send);
                        return;
                    }

                    continue;
                }

                var pending = (int)moved;
                while (pending > 0)
                {
                    var sent = Splice(pipeRead, toFd, pending);
                    if (sent > 0)
                    {
                        pending -= (int)sent;
                        continue;
                    }

                    // Destination full: move what the pipe holds through a buffer and let an async send wait.
                    drainBuffer ??= ArrayPool<byte>.Shared.Rent(pipeSize);
                    var drained = Read(pipeRead, drainBuffer, pending);
                    await to.SendAsync(drainBuffer.AsMemory(0, drained), SocketFlags.None);
                    pending -= drained;
                }

                counters.AddBytes(toServer, (int)moved);
            }
        }
        finally
        {
            if (fromHandle)
            {
                from.SafeHandle.DangerousRelease();
            }

            if (toHandle)
            {
                to.SafeHandle.DangerousRelease();
            }

            Close(pipeRead);
            Close(pipeWrite);
            if (drainBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(drainBuffer);
            }
        }
    }

    /// <summary>Bytes moved, 0 at end of stream, -1 when it would block.</summary>
    private static long Splice(int fdIn, int fdOut, int length)
    {
        while (true)
        {
            var result = (long)splice(fdIn, 0, fdOut, 0, (nuint)length, SpliceMove | SpliceNonBlock);
            if (result >= 0)
            {
                return result;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR)
            {
                continue;
            }

            if (errno == EAGAIN)
            {
                return -1;
            }

            throw new SocketException(errno);
        }
    }

    private static unsafe int Read(int fd, byte[] buffer, int length)
    {
        while (true)
        {
            fixed (byte* start = buffer)
            {
                var result = (long)read(fd, start, (nuint)length);
                if (result > 0)
                {
                    return (int)result;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (result < 0 && errno == EINTR)
                {
                    continue;
                }

                throw new IOException($"Reading the splice pipe failed (errno {errno}).");
            }
        }
    }

    private static unsafe (int Read, int Write) CreatePipe(int size)
    {
        var fds = stackalloc int[2];
        if (pipe2(fds, PipeNonBlockCloExec) != 0)
        {
            throw new IOException($"pipe2 failed (errno {Marshal.GetLastPInvokeError()}); too many open files?");
        }

        // Best effort: a bigger pipe moves more per call; the default (64 KiB) is fine too.
        _ = fcntl(fds[1], FcntlSetPipeSize, size);
        return (fds[0], fds[1]);
    }

    private static void Close(int fd) => _ = close(fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint splice(int fdIn, nint offIn, int fdOut, nint offOut, nuint length, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}

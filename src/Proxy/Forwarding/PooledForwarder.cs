using System.Buffers;
using System.Net.Sockets;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>
/// Receive into one pooled buffer, send it all, repeat: nothing more is read until what was read is
/// written (back-pressure), and the loop allocates nothing per packet.
/// </summary>
internal sealed class PooledForwarder(int bufferSize) : DirectionalForwarder
{
    protected override async Task ForwardOneWayAsync(Socket from, Socket to, bool toServer, ProxyCounters counters)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
        try
        {
            var memory = buffer.AsMemory();
            while (true)
            {
                var received = await from.ReceiveAsync(memory, SocketFlags.None);
                if (received == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                // On a stream socket SendAsync completes only when every byte is handed to the kernel.
                await to.SendAsync(memory[..received], SocketFlags.None);
                counters.AddBytes(toServer, received);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

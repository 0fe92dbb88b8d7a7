using System.Net.Sockets;
using PgRaft.Proxy.Listening;

namespace PgRaft.Proxy.Forwarding;

internal static class SocketTuning
{
    /// <summary>TCP_NODELAY (PostgreSQL messages are small and latency-bound) and keepalives (to notice dead peers).</summary>
    public static void Apply(Socket socket, ProxyListenerOptions options)
    {
        socket.NoDelay = true;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)options.KeepAliveIdle.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)options.KeepAliveInterval.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, options.KeepAliveCount);
    }
}

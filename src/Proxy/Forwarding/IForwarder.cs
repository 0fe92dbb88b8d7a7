using System.Net.Sockets;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>Copies one direction of a connection until the source's end of stream, then half-closes the destination.</summary>
internal interface IForwarder
{
    /// <summary>Throws SocketException, IOException or ObjectDisposedException when either side fails or the connection is closed.</summary>
    Task ForwardAsync(Socket from, Socket to, bool toServer, ProxyCounters counters);
}

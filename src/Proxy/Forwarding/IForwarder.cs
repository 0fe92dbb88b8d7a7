using System.Net;
using System.Net.Sockets;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>Copies a connection's bytes both ways.</summary>
internal interface IForwarder
{
    /// <summary>
    /// Forwards until both directions have reached end of stream (each end of stream is passed on
    /// as a half-close). Throws SocketException, IOException or ObjectDisposedException when either
    /// side fails; <paramref name="abort"/> closes both sockets and makes the copy end at once.
    /// </summary>
    Task ForwardAsync(Socket client, Socket backend, ProxyCounters counters, Action abort);

    /// <summary>Connects the backend socket in the way that suits this forwarder.</summary>
    ValueTask ConnectAsync(Socket socket, IPEndPoint address, CancellationToken cancellationToken);
}

/// <summary>A forwarder that runs each direction as its own loop.</summary>
internal abstract class DirectionalForwarder : IForwarder
{
    public async Task ForwardAsync(Socket client, Socket backend, ProxyCounters counters, Action abort)
    {
        var toServer = PumpAsync(client, backend, true);
        var toClient = PumpAsync(backend, client, false);
        await toServer;
        await toClient;

        async Task PumpAsync(Socket from, Socket to, bool isToServer)
        {
            try
            {
                await ForwardOneWayAsync(from, to, isToServer, counters);
            }
            catch
            {
                // The other direction cannot go on alone: end it too.
                abort();
                throw;
            }
        }
    }

    public ValueTask ConnectAsync(Socket socket, IPEndPoint address, CancellationToken cancellationToken) =>
        socket.ConnectAsync(address, cancellationToken);

    /// <summary>Copies one direction until the source's end of stream, then half-closes the destination.</summary>
    protected abstract Task ForwardOneWayAsync(Socket from, Socket to, bool toServer, ProxyCounters counters);
}

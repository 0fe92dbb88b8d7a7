using System.Net.Sockets;
using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>One client socket joined to one backend socket.</summary>
internal sealed class ProxyConnection(Socket client, Socket backend, ProxyRoute route, IForwarder forwarder, ProxyCounters counters)
{
    private int _closed;

    public ProxyRoute Route { get; } = route;

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Forwards both directions until both have ended or either fails; then both sockets are closed.</summary>
    public async Task RunAsync()
    {
        var toServer = PumpAsync(client, backend, true);
        var toClient = PumpAsync(backend, client, false);
        await toServer;
        await toClient;

        // Both sides have ended their streams: an ordinary close, so nothing still in flight is lost.
        Close(reset: false);
    }

    /// <summary>
    /// Closes both sockets now; pending copies end at once. By default the backend gets a reset so a
    /// server that is no longer the target drops the session without waiting for the client.
    /// </summary>
    public void Close(bool reset = true)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        if (reset)
        {
            try
            {
                backend.LingerState = new LingerOption(true, 0);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already gone: nothing to reset.
            }
        }

        backend.Dispose();
        client.Dispose();
    }

    private async Task PumpAsync(Socket from, Socket to, bool toServer)
    {
        try
        {
            await forwarder.ForwardAsync(from, to, toServer, counters);
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            Close();
        }
    }
}

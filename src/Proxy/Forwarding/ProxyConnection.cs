using System.Net.Sockets;
using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>One client socket joined to one backend socket.</summary>
internal sealed class ProxyConnection(Socket client, Socket backend, ProxyRoute route, IForwarder forwarder, ProxyCounters counters)
{
    private int _closed;

    public ProxyRoute Route { get; } = route;

    public Socket Client => client;

    public Socket Backend => backend;

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Forwards both directions until both have ended or either fails; then both sockets are closed.</summary>
    public async Task RunAsync()
    {
        try
        {
            await forwarder.ForwardAsync(client, backend, counters, () => Close());
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            Close();
            return;
        }

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

        // Shutting down first also wakes a forwarder that holds the descriptors (the epoll loop). After
        // an ordinary end both directions are shut already and no forwarder is left to wake.
        if (reset)
        {
            ShutdownQuietly(backend);
            ShutdownQuietly(client);
        }

        backend.Dispose();
        client.Dispose();
    }

    private static void ShutdownQuietly(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Not connected any more: nothing to wake.
        }
    }
}

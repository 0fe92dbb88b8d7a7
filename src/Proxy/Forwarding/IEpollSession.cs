using System.Net;
using System.Net.Sockets;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Forwarding;

/// <summary>
/// A connection whose whole life (backend connect, forwarding, end) runs on an epoll loop thread.
/// The loop calls back on its own thread; the callbacks must not throw and must not block.
/// </summary>
internal interface IEpollSession
{
    Socket Client { get; }

    /// <summary>A fresh, unconnected socket; the loop connects it to <see cref="BackendAddress"/>.</summary>
    Socket Backend { get; }

    /// <summary>An <see cref="IPEndPoint"/>, or a <see cref="UnixDomainSocketEndPoint"/> for this node's own PostgreSQL.</summary>
    EndPoint BackendAddress { get; }

    TimeSpan ConnectTimeout { get; }

    ProxyCounters Counters { get; }

    /// <summary>The backend accepted the connection; forwarding starts right after this returns.</summary>
    void OnConnected();

    /// <summary>The backend could not be reached (refused, timed out, or the loop is stopping). Nothing was forwarded.</summary>
    void OnConnectFailed(string reason);

    /// <summary>Forwarding ended: null once both directions ended normally, else what broke it. The loop no longer uses either socket.</summary>
    void OnForwardingEnded(Exception? error);
}

/// <summary>Takes the clients an epoll loop accepts on a listening socket.</summary>
internal interface IEpollAcceptor
{
    /// <summary>Called on the loop thread with a new non-blocking, close-on-exec descriptor, which the callee now owns.</summary>
    void OnAccepted(EpollLoop loop, int descriptor);

    /// <summary>accept(2) failed with <paramref name="errno"/> (descriptor limit and the like); the loop retries shortly.</summary>
    void OnAcceptFailed(int errno);
}

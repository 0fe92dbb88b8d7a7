using System.Net;
using System.Net.Sockets;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Proxy.Listening;

/// <summary>A client served entirely on an epoll loop thread: the listener's side of <see cref="IEpollSession"/>.</summary>
internal sealed class LoopSession(ProxyListener listener, ProxyConnection connection, EndPoint backendAddress, TimeSpan connectTimeout, ProxyCounters counters)
    : IEpollSession
{
    public ProxyConnection Connection { get; } = connection;

    public Socket Client => Connection.Client;

    public Socket Backend => Connection.Backend;

    public EndPoint BackendAddress { get; } = backendAddress;

    public TimeSpan ConnectTimeout { get; } = connectTimeout;

    public ProxyCounters Counters { get; } = counters;

    public void OnConnected() => listener.OnSessionConnected(this);

    public void OnConnectFailed(string reason) => listener.OnSessionConnectFailed(this, reason);

    public void OnForwardingEnded(Exception? error) => listener.OnSessionEnded(this, error);
}

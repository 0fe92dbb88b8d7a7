namespace PgRaft.Proxy.Forwarding;

/// <summary>How each epoll forwarding thread runs (see the matching <c>ProxyListenerOptions</c> settings).</summary>
/// <param name="BufferSize">Bytes per direction per connection.</param>
/// <param name="BusyPoll">After serving events, poll without blocking for this long before sleeping in epoll_wait (zero: never).</param>
/// <param name="PinThreads">Bind loop i to the i-th CPU the process may run on (sched_setaffinity) while it serves at least <paramref name="PinMinConnections"/> connections.</param>
/// <param name="PinMinConnections">Connections on a loop from which it is pinned.</param>
/// <param name="ThreadNice">Nice value for the loop threads (setpriority on the thread id); 0 leaves it as inherited.</param>
internal sealed record EpollLoopSettings(int BufferSize, TimeSpan BusyPoll = default, bool PinThreads = false, int ThreadNice = 0, int PinMinConnections = 1);

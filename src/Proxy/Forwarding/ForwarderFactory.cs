using Microsoft.Extensions.Logging;
using PgRaft.Proxy.Listening;

namespace PgRaft.Proxy.Forwarding;

internal static class ForwarderFactory
{
    public static IForwarder Create(ProxyListenerOptions options, ILogger logger)
    {
        if (options.Forwarding == ForwardingMode.Epoll)
        {
            if (EpollForwarder.IsSupported(out var why))
            {
                return new EpollForwarder(new EpollLoopSettings(options.BufferSize, options.EpollBusyPoll, options.EpollPinThreads, options.EpollThreadNice, options.EpollPinMinConnections), options.EpollThreads);
            }

            LogMessages.ForwardingUnavailable(logger, options.Forwarding, why);
        }

        if (options.Forwarding == ForwardingMode.Splice)
        {
            if (SpliceForwarder.IsSupported(out var reason))
            {
                return new SpliceForwarder(options.BufferSize);
            }

            LogMessages.ForwardingUnavailable(logger, options.Forwarding, reason);
        }

        return new PooledForwarder(options.BufferSize);
    }
}

using Microsoft.Extensions.Logging;
using PgRaft.Proxy.Listening;

namespace PgRaft.Proxy.Forwarding;

internal static class ForwarderFactory
{
    public static IForwarder Create(ProxyListenerOptions options, ILogger logger)
    {
        if (options.Forwarding == ForwardingMode.Splice)
        {
            if (SpliceForwarder.IsSupported(out var reason))
            {
                return new SpliceForwarder(options.BufferSize);
            }

            LogMessages.SpliceUnavailable(logger, reason);
        }

        return new PooledForwarder(options.BufferSize);
    }
}

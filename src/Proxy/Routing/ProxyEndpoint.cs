using System.Net;

namespace PgRaft.Proxy.Routing;

/// <summary>A backend server the proxy can forward to: host name or IP literal, and port.</summary>
internal readonly record struct ProxyEndpoint(string Host, int Port)
{
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Resolves the endpoint; an IP literal costs no DNS look-up.</summary>
    public async ValueTask<IPEndPoint> ResolveAsync(CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(Host, out var address))
        {
            return new IPEndPoint(address, Port);
        }

        var addresses = await Dns.GetHostAddressesAsync(Host, cancellationToken);
        if (addresses.Length == 0)
        {
            throw new InvalidOperationException($"Proxy target host '{Host}' resolves to no address; check the node's configured PostgreSQL host name.");
        }

        return new IPEndPoint(addresses[0], Port);
    }

    /// <summary>Parses "host:port" or "[v6]:port".</summary>
    public static ProxyEndpoint Parse(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
        {
            throw new FormatException($"'{text}' is not an endpoint; expected host:port with a port between 1 and 65535.");
        }

        var host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        return new ProxyEndpoint(host, port);
    }
}

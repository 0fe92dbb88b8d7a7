using System.Globalization;
using System.Net;

namespace PgRaft.Raft.Hosting;

internal static class EndPointParser
{
    /// <summary>Parses "host:port", "1.2.3.4:port" or "[::1]:port"; the error names <paramref name="setting"/>.</summary>
    public static EndPoint Parse(string address, string setting)
    {
        if (IPEndPoint.TryParse(address, out var ip) && ip.Port != 0 && address.Contains(':', StringComparison.Ordinal))
        {
            return ip;
        }

        var colon = address.LastIndexOf(':');
        if (colon > 0 && colon < address.Length - 1
            && int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            && port is > 0 and <= 65535
            && Uri.CheckHostName(address[..colon]) != UriHostNameType.Unknown)
        {
            return new DnsEndPoint(address[..colon], port);
        }

        throw new ArgumentException($"{setting}: '{address}' is not a valid address; expected host:port (e.g. 10.0.0.5:7432 or node1.example:7432).", setting);
    }
}

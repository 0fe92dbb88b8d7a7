using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace PgRaft.Node.Configuration;

/// <summary>A host (name or IP literal) and a TCP port, written <c>host:port</c> or <c>[v6]:port</c>.</summary>
internal readonly record struct HostPort(string Host, int Port)
{
    public bool IsWildcard => Host is "0.0.0.0" or "::" or "*" or "+";

    public static bool TryParse(string? text, [NotNullWhen(true)] out HostPort? value, out string error)
    {
        value = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty; write it as host:port, e.g. 10.0.0.1:7432";
            return false;
        }

        string host;
        string portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                error = $"'{text}' is not [ipv6]:port";
                return false;
            }

            host = text[1..close];
            portText = text[(close + 2)..];
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                error = $"'{text}' has no port; write it as host:port, e.g. {text.TrimEnd(':')}:7432";
                return false;
            }

            host = text[..colon];
            portText = text[(colon + 1)..];
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            error = $"'{text}' has port '{portText}', which is not a number from 1 to 65535";
            return false;
        }

        if (!IPAddress.TryParse(host, out _) && Uri.CheckHostName(host) != UriHostNameType.Dns && host is not ("*" or "+"))
        {
            error = $"'{text}' has host '{host}', which is neither an IP address nor a DNS name";
            return false;
        }

        value = new HostPort(host, port);
        error = "";
        return true;
    }

    public override string ToString() =>
        Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}" : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";
}

using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace PgRaft.PgControl.Configuration;

/// <summary>Turns settings into the managed include file, pg_hba.conf and primary_conninfo (pure functions).</summary>
internal static partial class ConfigRenderer
{
    public const string IncludeFileName = "postgresql.pgraft.conf";
    public const string IncludeLine = "include_if_exists = '" + IncludeFileName + "'";
    public const string Header = "# Managed by pgraft: rewritten on every change. Change the cluster spec instead of editing this file.";

    /// <summary>Settings only PgControl decides; a user parameter naming one is refused.</summary>
    public static readonly IReadOnlySet<string> ReservedParameters = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "listen_addresses", "port", "unix_socket_directories", "hot_standby", "synchronous_standby_names",
        "primary_conninfo", "primary_slot_name", "recovery_target_timeline", "logging_collector",
        "data_directory", "hba_file", "ident_file", "config_file", "external_pid_file",
    };

    public sealed record ServerSettings(
        string ListenAddresses,
        int Port,
        string? SocketDirectory,
        string SynchronousStandbyNames,
        string? PrimaryConnInfo,
        string? PrimarySlotName);

    /// <summary>The name → value map of the managed include file, in file order.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Parameters(ServerSettings server, IReadOnlyDictionary<string, string> user)
    {
        foreach (var (name, value) in user)
        {
            ValidateParameter(name, value);
        }
        var result = new List<KeyValuePair<string, string>>();
        void Add(string n, string v) => result.Add(new(n, v));
        // Defaults the user may override.
        var defaults = new (string Name, string Value)[]
        {
            ("wal_level", "replica"), ("max_wal_senders", "10"), ("max_replication_slots", "10"),
            ("wal_keep_size", "128MB"), ("wal_log_hints", "on"), ("hot_standby_feedback", "on"),
            // A standby retries a lost upstream every 5 s by default: after a failover that is most of the outage.
            ("wal_retrieve_retry_interval", "250ms"),
            // A replication connection that went silent (a standby cut off, then back) is dropped within seconds on both
            // ends and made again, instead of resuming only at TCP's next retransmission, whose back-off doubles up to
            // 120 s: after a 6.7 s cut a standby received nothing for another 6.5 s, unseen while the other standby
            // acknowledged commits, until that one failed too and commits waited for it. Timeouts need regular
            // replies: a standby sends one every second, the primary a keepalive every half wal_sender_timeout.
            ("wal_receiver_status_interval", "1s"), ("wal_sender_timeout", "5s"), ("wal_receiver_timeout", "5s"),
        };
        foreach (var (n, v) in defaults)
        {
            if (!user.Keys.Any(k => string.Equals(k, n, StringComparison.OrdinalIgnoreCase)))
            {
                Add(n, v);
            }
        }
        foreach (var (n, v) in user.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Add(n.ToLowerInvariant(), v);
        }
        Add("listen_addresses", server.ListenAddresses);
        Add("port", server.Port.ToString(CultureInfo.InvariantCulture));
        Add("unix_socket_directories", server.SocketDirectory ?? "");
        Add("logging_collector", "off");
        Add("hot_standby", "on");
        Add("synchronous_standby_names", server.SynchronousStandbyNames);
        Add("primary_conninfo", server.PrimaryConnInfo ?? "");
        Add("primary_slot_name", server.PrimarySlotName ?? "");
        Add("recovery_target_timeline", "latest");
        return result;
    }

    public static string RenderInclude(IReadOnlyList<KeyValuePair<string, string>> parameters)
    {
        var text = new StringBuilder();
        text.Append(Header).Append('\n');
        foreach (var (name, value) in parameters)
        {
            text.Append(name).Append(" = ").Append(Quote(value)).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>Reads back a file written by <see cref="RenderInclude"/>; unknown lines are ignored.</summary>
    public static Dictionary<string, string> ParseInclude(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var match = IncludeLinePattern().Match(line);
            if (match.Success)
            {
                result[match.Groups[1].Value] = match.Groups[2].Value.Replace("''", "'", StringComparison.Ordinal);
            }
        }
        return result;
    }

    public static string Quote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static void ValidateParameter(string name, string value)
    {
        if (!ParameterNamePattern().IsMatch(name))
        {
            throw new PgControlException(PgControlError.InvalidArgument,
                $"'{name}' is not a PostgreSQL parameter name (letters, digits, '_' and '.' only).");
        }
        if (ReservedParameters.Contains(name))
        {
            throw new PgControlException(PgControlError.InvalidArgument,
                $"PostgreSQL parameter '{name}' is managed by pgraft and cannot be set in the cluster spec: remove it.");
        }
        if (value.Any(c => c is '\n' or '\r' or '\0'))
        {
            throw new PgControlException(PgControlError.InvalidArgument,
                $"The value of PostgreSQL parameter '{name}' contains a line break: keep it on one line.");
        }
    }

    /// <summary>pg_hba.conf: loopback and members for everyone (proxied clients arrive from members), then the user's lines.</summary>
    public static string RenderHba(string replicationUser, IReadOnlyList<string> memberAddresses, IReadOnlyList<string> extraLines, bool localSocket)
    {
        var text = new StringBuilder();
        text.Append(Header).Append('\n');
        if (localSocket)
        {
            text.Append("local   all          all  scram-sha-256\n");
            text.Append("local   replication  all  scram-sha-256\n");
        }
        var addresses = new List<string> { "127.0.0.1/32", "::1/128" };
        addresses.AddRange(memberAddresses.Select(HbaAddress));
        foreach (var address in addresses.Distinct(StringComparer.Ordinal))
        {
            text.Append("host    all          all  ").Append(address).Append("  scram-sha-256\n");
            text.Append("host    replication  ").Append(HbaRole(replicationUser)).Append("  ").Append(address).Append("  scram-sha-256\n");
        }
        foreach (var line in extraLines)
        {
            if (line.Any(c => c is '\n' or '\r' or '\0'))
            {
                throw new PgControlException(PgControlError.InvalidArgument, "An extra pg_hba line contains a line break: give one rule per entry.");
            }
            text.Append(line.Trim()).Append('\n');
        }
        return text.ToString();
    }

    public static string HbaAddress(string member)
    {
        var trimmed = member.Trim();
        if (trimmed.Length == 0 || trimmed.Any(char.IsWhiteSpace) || trimmed.Contains('"', StringComparison.Ordinal))
        {
            throw new PgControlException(PgControlError.InvalidArgument, $"'{member}' is not a member address (expected an IP address, CIDR or host name).");
        }
        if (trimmed.Contains('/', StringComparison.Ordinal))
        {
            return trimmed;
        }
        if (IPAddress.TryParse(trimmed, out var ip))
        {
            return ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? ip + "/128" : ip + "/32";
        }
        return trimmed;
    }

    private static string HbaRole(string role) => "\"" + role.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>A libpq connection string; values quoted and escaped as libpq wants.</summary>
    public static string ConnInfo(IEnumerable<KeyValuePair<string, string>> values) =>
        string.Join(' ', values.Select(p => p.Key + "=" + ConnInfoValue(p.Value)));

    private static string ConnInfoValue(string value) =>
        value.Length > 0 && value.All(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_' or '/' or ':')
            ? value
            : "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    /// <summary>One ~/.pgpass line matching any host, port and database for the role.</summary>
    public static string PassFileLine(string user, string password) => $"*:*:*:{PassFileEscape(user)}:{PassFileEscape(password)}";

    private static string PassFileEscape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(":", "\\:", StringComparison.Ordinal);

    [GeneratedRegex(@"^([a-z_][a-z0-9_.]*) = '((?:[^']|'')*)'\s*$")]
    private static partial Regex IncludeLinePattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.]*$")]
    private static partial Regex ParameterNamePattern();
}

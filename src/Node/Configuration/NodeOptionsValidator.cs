using System.Text.RegularExpressions;

namespace PgRaft.Node.Configuration;

/// <summary>Checks <see cref="NodeOptions"/> as a whole; each problem names the setting and how to fix it.</summary>
internal static partial class NodeOptionsValidator
{
    public const int MinimumSecretLength = 16;

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex NodeIdPattern();

    public static IReadOnlyList<string> Validate(NodeOptions options)
    {
        var problems = new List<string>();
        ValidateIdentity(options, problems);
        ValidateSecret(options, problems);
        var raft = ValidateListener("Raft", options.Raft.Bind, options.Raft.Advertise, problems);
        ValidateListener("Api", options.Api.Bind, options.Api.Advertise, problems);
        ValidateListener("Postgres", options.Postgres.Bind, options.Postgres.Advertise, problems);
        var readWrite = ParseOrReport("Proxy:ReadWriteBind", options.Proxy.ReadWriteBind, problems);
        var readOnly = ParseOrReport("Proxy:ReadOnlyBind", options.Proxy.ReadOnlyBind, problems);
        if (options.Proxy.MaxClientConnections < 1)
        {
            problems.Add($"Proxy:MaxClientConnections is {options.Proxy.MaxClientConnections}; set it to 1 or more");
        }

        ValidatePortsDistinct(options, readWrite, readOnly, problems);
        ValidatePeers(options, raft, problems);
        ValidatePostgres(options.Postgres, problems);
        ValidateBootstrap(options.Bootstrap, problems);
        if (options.Logging.Level is not ("Verbose" or "Debug" or "Information" or "Warning" or "Error"))
        {
            problems.Add($"Logging:Level is '{options.Logging.Level}'; use Verbose, Debug, Information, Warning or Error");
        }

        return problems;
    }

    /// <summary>The advertised address of a listener: Advertise, or Bind when that is not a wildcard.</summary>
    public static HostPort? Advertised(string bind, string? advertise)
    {
        if (advertise is not null && HostPort.TryParse(advertise, out var a, out _))
        {
            return a;
        }

        return HostPort.TryParse(bind, out var b, out _) && !b.Value.IsWildcard ? b : null;
    }

    private static void ValidateIdentity(NodeOptions options, List<string> problems)
    {
        if (string.IsNullOrEmpty(options.NodeId))
        {
            problems.Add("NodeId is missing; set it (e.g. \"node1\") in the config file, PGRAFT_NODEID or --NodeId");
        }
        else if (!NodeIdPattern().IsMatch(options.NodeId))
        {
            problems.Add($"NodeId '{options.NodeId}' is not allowed; use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit");
        }

        if (string.IsNullOrEmpty(options.DataDir))
        {
            problems.Add("DataDir is missing; set it to an absolute folder path such as /var/lib/pgraft");
        }
        else if (!Path.IsPathFullyQualified(options.DataDir))
        {
            problems.Add($"DataDir '{options.DataDir}' is relative; give an absolute path such as /var/lib/pgraft");
        }
    }

    private static void ValidateSecret(NodeOptions options, List<string> problems)
    {
        var hasInline = !string.IsNullOrEmpty(options.ClusterSecret);
        var hasFile = !string.IsNullOrEmpty(options.ClusterSecretFile);
        if (hasInline && hasFile)
        {
            problems.Add("both ClusterSecret and ClusterSecretFile are set; keep only one (ClusterSecretFile is safer)");
            return;
        }

        if (!hasInline && !hasFile)
        {
            problems.Add("the cluster secret is missing; set ClusterSecretFile to a file (mode 0600) holding at least 16 random characters, or PGRAFT_CLUSTERSECRET");
            return;
        }

        if (hasInline)
        {
            if (options.ClusterSecret!.Trim().Length < MinimumSecretLength)
            {
                problems.Add($"ClusterSecret is shorter than {MinimumSecretLength} characters; use a longer random secret (e.g. openssl rand -hex 24)");
            }

            return;
        }

        var secret = ReadSecretFile("ClusterSecretFile", options.ClusterSecretFile!, problems);
        if (secret is not null && secret.Length < MinimumSecretLength)
        {
            problems.Add($"ClusterSecretFile '{options.ClusterSecretFile}' holds fewer than {MinimumSecretLength} characters; write a longer random secret into it (e.g. openssl rand -hex 24)");
        }
    }

    /// <summary>Reads a secret file, trimmed; reports a missing or unreadable file without ever echoing its contents.</summary>
    public static string? ReadSecretFile(string setting, string path, List<string> problems)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (FileNotFoundException)
        {
            problems.Add($"{setting} '{path}' does not exist; create it (mode 0600) or fix the path");
        }
        catch (DirectoryNotFoundException)
        {
            problems.Add($"{setting} '{path}' is in a folder that does not exist; fix the path");
        }
        catch (UnauthorizedAccessException)
        {
            problems.Add($"{setting} '{path}' cannot be read by this user; make it readable by the user running pgraft (and by nobody else: chmod 600)");
        }
        catch (IOException ex)
        {
            problems.Add($"{setting} '{path}' cannot be read ({ex.GetType().Name}); check the path");
        }

        return null;
    }

    private static HostPort? ValidateListener(string name, string bind, string? advertise, List<string> problems)
    {
        var bound = ParseOrReport(name + ":Bind", bind, problems);
        if (advertise is not null)
        {
            var advertised = ParseOrReport(name + ":Advertise", advertise, problems);
            if (advertised is { IsWildcard: true })
            {
                problems.Add($"{name}:Advertise '{advertise}' is a wildcard; set the address other nodes dial, e.g. 10.0.0.1:{advertised.Value.Port}");
            }

            return advertised;
        }

        if (bound is { IsWildcard: true })
        {
            problems.Add($"{name}:Bind '{bind}' listens on every interface, so {name}:Advertise is needed: set it to the address other nodes dial, e.g. 10.0.0.1:{bound.Value.Port}");
        }

        return bound;
    }

    private static HostPort? ParseOrReport(string setting, string? text, List<string> problems)
    {
        if (HostPort.TryParse(text, out var value, out var error))
        {
            return value;
        }

        problems.Add($"{setting} {error}");
        return null;
    }

    private static void ValidatePortsDistinct(NodeOptions options, HostPort? readWrite, HostPort? readOnly, List<string> problems)
    {
        var listeners = new List<(string Setting, HostPort? Address)>
        {
            ("Raft:Bind", Parse(options.Raft.Bind)),
            ("Api:Bind", Parse(options.Api.Bind)),
            ("Postgres:Bind", Parse(options.Postgres.Bind)),
            ("Proxy:ReadWriteBind", readWrite),
            ("Proxy:ReadOnlyBind", readOnly),
        };
        foreach (var group in listeners.Where(l => l.Address is not null).GroupBy(l => l.Address!.Value.Port))
        {
            var clashing = group.Where(l => group.Any(o => o.Setting != l.Setting && Overlaps(o.Address!.Value, l.Address!.Value))).Select(l => l.Setting).ToList();
            if (clashing.Count > 1)
            {
                problems.Add($"{string.Join(" and ", clashing)} use the same port {group.Key}; give each listener its own port");
            }
        }

        static HostPort? Parse(string text) => HostPort.TryParse(text, out var v, out _) ? v : null;
        static bool Overlaps(HostPort a, HostPort b) => a.IsWildcard || b.IsWildcard || string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase);
    }

    private static void ValidatePeers(NodeOptions options, HostPort? ownRaft, List<string> problems)
    {
        if (options.Peers.Count == 0)
        {
            problems.Add("Peers is empty; list every initial voter (this node included) as { \"Id\": \"node1\", \"Raft\": \"10.0.0.1:7432\" }");
            return;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var slotNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Peers.Count; i++)
        {
            var peer = options.Peers[i];
            var setting = $"Peers:{i}";
            if (!NodeIdPattern().IsMatch(peer.Id))
            {
                problems.Add($"{setting}:Id '{peer.Id}' is not a valid node id; use lowercase letters, digits, '-' or '_'");
            }
            else if (!seen.Add(peer.Id))
            {
                problems.Add($"{setting}:Id '{peer.Id}' appears twice in Peers; each node once");
            }
            else if (!slotNames.Add(peer.Id.Replace('-', '_')))
            {
                problems.Add($"{setting}:Id '{peer.Id}' differs from another peer only by '-' versus '_', which PostgreSQL slot names cannot tell apart; rename one");
            }

            var address = ParseOrReport(setting + ":Raft", peer.Raft, problems);
            if (peer.Id == options.NodeId && address is not null && ownRaft is not null && address != ownRaft)
            {
                problems.Add($"{setting} names this node ({peer.Id}) at {address}, but Raft:Advertise/Bind says {ownRaft}; make them the same on every node");
            }
        }

        if (options.Join && seen.Contains(options.NodeId))
        {
            problems.Add($"Join is true but Peers includes this node ('{options.NodeId}'): a joining node lists only members of the running cluster (a node that lists itself would bootstrap a cluster of its own)");
        }
        else if (!options.Join && !string.IsNullOrEmpty(options.NodeId) && !seen.Contains(options.NodeId))
        {
            problems.Add($"Peers does not include this node ('{options.NodeId}'); every node's Peers lists all initial voters, itself included (to add a node to a running cluster, set Join: true and list the members it should reach)");
        }

    }

    private static void ValidatePostgres(PostgresConfig postgres, List<string> problems)
    {
        if (postgres.BinDir is not null && !File.Exists(Path.Combine(postgres.BinDir, "postgres")))
        {
            problems.Add($"Postgres:BinDir '{postgres.BinDir}' has no 'postgres' program; point it at the folder holding initdb and postgres (e.g. /usr/lib/postgresql/15/bin) or leave it empty to search");
        }

        if (string.IsNullOrWhiteSpace(postgres.OsUser))
        {
            problems.Add("Postgres:OsUser is empty; name the OS user PostgreSQL runs as when pgraft runs as root (usually postgres)");
        }

        foreach (var (setting, path) in new[] { ("Postgres:SuperuserPasswordFile", postgres.SuperuserPasswordFile), ("Postgres:ReplicationPasswordFile", postgres.ReplicationPasswordFile) })
        {
            if (path is null)
            {
                problems.Add($"{setting} is missing; create a file (mode 0600) holding the password and set {setting} to its path");
            }
            else if (ReadSecretFile(setting, path, problems) is { Length: 0 })
            {
                problems.Add($"{setting} '{path}' is empty; write the password into it");
            }
        }

        if (string.Equals(postgres.SuperuserName, postgres.ReplicationUser, StringComparison.Ordinal))
        {
            problems.Add("Postgres:ReplicationUser equals Postgres:SuperuserName; use a separate replication role");
        }
    }

    private static void ValidateBootstrap(BootstrapOptions bootstrap, List<string> problems)
    {
        for (var i = 0; i < bootstrap.Users.Count; i++)
        {
            var user = bootstrap.Users[i];
            if (string.IsNullOrWhiteSpace(user.Name))
            {
                problems.Add($"Bootstrap:Users:{i}:Name is empty; name the role to create");
            }

            if (string.IsNullOrWhiteSpace(user.PasswordFile))
            {
                problems.Add($"Bootstrap:Users:{i}:PasswordFile is missing; point it at a file (mode 0600) with the role's password");
            }
            else
            {
                ReadSecretFile($"Bootstrap:Users:{i}:PasswordFile", user.PasswordFile, problems);
            }
        }

        if (bootstrap.PostBootstrapSqlFile is not null && !File.Exists(bootstrap.PostBootstrapSqlFile))
        {
            problems.Add($"Bootstrap:PostBootstrapSqlFile '{bootstrap.PostBootstrapSqlFile}' does not exist; fix the path or remove the setting");
        }
    }
}

namespace PgRaft.PgControl.Instance;

/// <summary>How one local PostgreSQL instance is run. Paths are absolute.</summary>
internal sealed class PostgresOptions
{
    /// <summary>The data directory. Nothing deletes it; when it must give way it is renamed aside with a timestamp suffix.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>PostgreSQL's bin directory; null to look it up (pg_config, then the newest /usr/lib/postgresql/*/bin).</summary>
    public string? BinDirectory { get; init; }

    public int Port { get; init; } = 5433;

    /// <summary>PostgreSQL's listen_addresses (comma-separated, or '*').</summary>
    public string ListenAddresses { get; init; } = "127.0.0.1";

    /// <summary>Host this process connects to for probes; null for the first listen address (127.0.0.1 for '*').</summary>
    public string? ConnectHost { get; init; }

    /// <summary>OS user PostgreSQL runs as. Required when the caller is root; otherwise null or the caller's own user.</summary>
    public string? OsUser { get; init; }

    public required PostgresCredentials Superuser { get; init; }

    /// <summary>The role standbys replicate with (created by <c>InitAsync</c>).</summary>
    public required PostgresCredentials Replication { get; init; }

    /// <summary>This node's name as standbys announce it (application_name, synchronous_standby_names).</summary>
    public required string ApplicationName { get; init; }

    /// <summary>
    /// The command that runs the fencing guard, e.g. <c>["/usr/bin/pgraft", "guard"]</c>; the guard's own
    /// arguments are appended. The postmaster always runs under it.
    /// </summary>
    public required IReadOnlyList<string> GuardCommand { get; init; }

    /// <summary>
    /// When true a primary may start (and a standby be promoted) without a lease: the guard then holds no
    /// deadline and stops PostgreSQL only when the pipe from this process closes. For standalone use only;
    /// a cluster node leaves this false, so a primary never runs unfenced.
    /// </summary>
    public bool NoLeaseRequired { get; init; }

    /// <summary>PostgreSQL's server log; defaults to "&lt;DataDirectory&gt;.log" beside the data directory.</summary>
    public string? LogFile { get; init; }

    /// <summary>The libpq password file for walreceiver, pg_basebackup and pg_rewind; defaults to "&lt;DataDirectory&gt;.pgpass".</summary>
    public string? PassFile { get; init; }

    /// <summary>unix_socket_directories; null for none (everything connects over TCP).</summary>
    public string? SocketDirectory { get; init; }

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long each stop stage (smart, fast, immediate) may take before the next, harsher one.</summary>
    public TimeSpan StopStageTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the guard waits after SIGQUIT before it SIGKILLs the postmaster's process group.</summary>
    public TimeSpan FenceKillAfter { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan ToolTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Extra initdb arguments (locale, encoding); checksums, auth and the superuser are always set.</summary>
    public IReadOnlyList<string> InitdbArguments { get; init; } = ["--encoding=UTF8", "--locale=C"];

    internal string DataDirectoryFull => Path.GetFullPath(DataDirectory).TrimEnd('/');
    internal string LogFileFull => Path.GetFullPath(LogFile ?? DataDirectoryFull + ".log");
    internal string PassFileFull => Path.GetFullPath(PassFile ?? DataDirectoryFull + ".pgpass");

    internal string EffectiveConnectHost
    {
        get
        {
            if (!string.IsNullOrWhiteSpace(ConnectHost))
            {
                return ConnectHost;
            }
            var first = ListenAddresses.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            return first is null or "*" or "0.0.0.0" ? "127.0.0.1" : first == "::" ? "::1" : first;
        }
    }
}

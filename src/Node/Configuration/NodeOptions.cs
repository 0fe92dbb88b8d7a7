namespace PgRaft.Node.Configuration;

/// <summary>
/// Everything one node needs to start, bound from a JSON file, <c>PGRAFT_</c> environment variables
/// (<c>__</c> separates levels: <c>PGRAFT_RAFT__ADVERTISE</c>) and command-line flags, in that order of precedence (last wins).
/// Cluster-wide settings (timings, replication mode, parameters) live in the Raft log, not here.
/// </summary>
internal sealed class NodeOptions
{
    /// <summary>This node's name: lowercase letters, digits, '-' and '_'; unique in the cluster.</summary>
    public string NodeId { get; set; } = "";

    /// <summary>Absolute path of the folder that holds the Raft log, PostgreSQL's data directory and logs.</summary>
    public string DataDir { get; set; } = "";

    /// <summary>The secret every node shares to authenticate Raft peers. Prefer <see cref="ClusterSecretFile"/>.</summary>
    public string? ClusterSecret { get; set; }

    /// <summary>A file (mode 0600) holding the cluster secret.</summary>
    public string? ClusterSecretFile { get; set; }

    public ListenerOptions Raft { get; set; } = new() { Bind = "0.0.0.0:7432" };

    public ListenerOptions Api { get; set; } = new() { Bind = "0.0.0.0:8008" };

    public ProxyConfig Proxy { get; set; } = new();

    public PostgresConfig Postgres { get; set; } = new();

    /// <summary>
    /// The cluster's initial voters (this node included): used once, to bootstrap a new cluster. With <see cref="Join"/>:
    /// members of the running cluster to reach (this node not included).
    /// </summary>
    public List<PeerOptions> Peers { get; set; } = [];

    /// <summary>
    /// This node joins a running cluster instead of bootstrapping one: it starts empty and waits until a member runs
    /// <c>pgraft member add</c> for it.
    /// </summary>
    public bool Join { get; set; }

    public BootstrapOptions Bootstrap { get; set; } = new();

    /// <summary>This node's tags, as Patroni names them: nofailover, noloadbalance, nosync, priority, replicatefrom.</summary>
    public TagOptions Tags { get; set; } = new();

    public LoggingOptions Logging { get; set; } = new();
}

internal sealed class ListenerOptions
{
    /// <summary>Where to listen, as host:port (0.0.0.0 for every interface).</summary>
    public string Bind { get; set; } = "";

    /// <summary>What peers and clients must dial (host:port); defaults to <see cref="Bind"/> unless that is a wildcard.</summary>
    public string? Advertise { get; set; }
}

internal sealed class ProxyConfig
{
    public string ReadWriteBind { get; set; } = "0.0.0.0:5432";

    public string ReadOnlyBind { get; set; } = "0.0.0.0:5434";

    /// <summary>The host clients dial to reach this node's proxy ports.</summary>
    public string? AdvertiseHost { get; set; }

    public int MaxClientConnections { get; set; } = 1000;
}

internal sealed class PostgresConfig
{
    /// <summary>Where PostgreSQL listens (host:port); the proxy, not clients, is its usual caller.</summary>
    public string Bind { get; set; } = "0.0.0.0:5433";

    public string? Advertise { get; set; }

    /// <summary>Folder with initdb, postgres, pg_ctl…; found from pg_config or /usr/lib/postgresql/*/bin when empty.</summary>
    public string? BinDir { get; set; }

    /// <summary>The OS user PostgreSQL runs as when pgraft runs as root.</summary>
    public string OsUser { get; set; } = "postgres";

    public string SuperuserName { get; set; } = "postgres";

    public string? SuperuserPasswordFile { get; set; }

    public string ReplicationUser { get; set; } = "replicator";

    public string? ReplicationPasswordFile { get; set; }
}

internal sealed class PeerOptions
{
    public string Id { get; set; } = "";

    /// <summary>The peer's advertised Raft address (host:port).</summary>
    public string Raft { get; set; } = "";
}

internal sealed class BootstrapOptions
{
    /// <summary>Extra initdb arguments (data checksums and scram-sha-256 are always on).</summary>
    public List<string> InitdbArgs { get; set; } = [];

    public List<string> Databases { get; set; } = [];

    public List<BootstrapUserOptions> Users { get; set; } = [];

    /// <summary>A SQL script run once on the new primary after bootstrap.</summary>
    public string? PostBootstrapSqlFile { get; set; }
}

internal sealed class BootstrapUserOptions
{
    public string Name { get; set; } = "";

    public string PasswordFile { get; set; } = "";

    public bool Superuser { get; set; }
}

internal sealed class LoggingOptions
{
    /// <summary>Verbose, Debug, Information, Warning, Error.</summary>
    public string Level { get; set; } = "Information";

    /// <summary>A log file besides the console; none when empty.</summary>
    public string? File { get; set; }
}

internal sealed class TagOptions
{
    /// <summary>Never promote this node.</summary>
    public bool NoFailover { get; set; }

    /// <summary>Never send read-only clients to this node.</summary>
    public bool NoLoadBalance { get; set; }

    /// <summary>Never make this node a synchronous standby.</summary>
    public bool NoSync { get; set; }

    /// <summary>Among equally advanced candidates, the higher priority is promoted.</summary>
    public int Priority { get; set; }

    /// <summary>Stream from this member instead of the primary (cascading replication).</summary>
    public string? ReplicateFrom { get; set; }

    public Cluster.MemberTags ToMemberTags() => new()
    {
        NoFailover = NoFailover,
        NoLoadBalance = NoLoadBalance,
        NoSync = NoSync,
        Priority = Priority,
        ReplicateFrom = string.IsNullOrEmpty(ReplicateFrom) ? null : ReplicateFrom,
    };
}

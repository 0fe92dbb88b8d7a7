using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Npgsql;
using PgRaft.JepsenStyle.Lab;
using PgRaft.Node.Cluster;

namespace PgRaft.JepsenStyle.Harness;

/// <summary>
/// Three real <c>pgraft run</c> processes, one per namespace of a <see cref="NetworkLab"/>, each binding Raft, API,
/// PostgreSQL and proxy to its namespace's address on the default ports. Data, logs and secrets (0600) live in the
/// lab's data folder. Started with <see cref="StartAsync"/>, which returns once one primary has two streaming standbys
/// and this test process may connect to every PostgreSQL directly.
/// </summary>
internal sealed class LabCluster : IAsyncDisposable
{
    public const int ReadWritePort = 5432;
    public const int PostgresPort = 5433;
    public const int RaftPort = 7432;
    public const int ReadOnlyPort = 5434;

    private static readonly TimeSpan ApiProbe = TimeSpan.FromMilliseconds(800);
    private readonly Dictionary<int, NodeProcess> _nodes = [];
    private readonly RunLog _log;

    private LabCluster(NetworkLab lab, RunLog log, string clusterSecret)
    {
        Lab = lab;
        _log = log;
        Api = new ClusterApi(lab, clusterSecret);
    }

    public NetworkLab Lab { get; }

    public ClusterApi Api { get; }

    public int Nodes => Lab.Nodes;

    public IEnumerable<int> NodeNumbers => Enumerable.Range(1, Nodes);

    public string Folder => Lab.Names.DataFolder;

    private string SuperuserPassword { get; } = RandomNumberGenerator.GetHexString(32, lowercase: true);

    public NodeProcess Node(int node) => _nodes[node];

    public static string NodeId(int node) => "node" + node.ToString(CultureInfo.InvariantCulture);

    public static int NodeNumber(string nodeId) => int.Parse(nodeId.AsSpan("node".Length), CultureInfo.InvariantCulture);

    public static async Task<LabCluster> StartAsync(NetworkLab lab, RunLog log, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(lab.Names.DataFolder);
        File.SetUnixFileMode(lab.Names.DataFolder, (UnixFileMode)0b111_101_101);
        if (Environment.GetEnvironmentVariable("PGRAFT_KEEP_TEST_DATA") is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(lab.Names.DataFolder, StaleLabs.KeepMarker), "kept by PGRAFT_KEEP_TEST_DATA\n", cancellationToken);
        }

        log.WriteTo(Path.Combine(lab.Names.DataFolder, "run.log"));
        var secret = RandomNumberGenerator.GetHexString(48, lowercase: true);
        var cluster = new LabCluster(lab, log, secret);
        try
        {
            cluster.WriteSecret("cluster.secret", secret);
            cluster.WriteSecret("superuser.password", cluster.SuperuserPassword);
            cluster.WriteSecret("replication.password", RandomNumberGenerator.GetHexString(32, lowercase: true));
            foreach (var n in cluster.NodeNumbers)
            {
                cluster.Prepare(n);
                cluster._nodes[n].Start();
            }

            var clock = Stopwatch.StartNew();
            var primary = await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(240), streaming: false, cancellationToken);
            log.Line($"bootstrapped: node{primary} primary after {clock.Elapsed.TotalSeconds:F1} s");
            await cluster.AllowThisHostAsync(primary, cancellationToken);
            primary = await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(120), streaming: true, cancellationToken);
            log.Line($"ready: node{primary} primary with {cluster.Nodes - 1} streaming standbys after {clock.Elapsed.TotalSeconds:F1} s");
            return cluster;
        }
        catch
        {
            log.Line("the cluster did not start; logs:\n" + cluster.LogTails(40, 20));
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>A connection string for this test process as the PostgreSQL superuser (the password never reaches a log).</summary>
    public string ConnectionString(IPAddress host, int port, int connectTimeoutSeconds, int commandTimeoutSeconds) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = host.ToString(),
            Port = port,
            Username = "postgres",
            Password = SuperuserPassword,
            Database = "postgres",
            Pooling = false,
            Timeout = connectTimeoutSeconds,
            CommandTimeout = commandTimeoutSeconds,
            CancellationTimeout = -1,
        }.ConnectionString;

    /// <summary>Straight to a node's PostgreSQL, bypassing every proxy.</summary>
    public string DirectConnectionString(int node, int commandTimeoutSeconds = 10) =>
        ConnectionString(Lab.NodeAddress(node), PostgresPort, 3, commandTimeoutSeconds);

    /// <summary>Through a node's read-write proxy port (the proxy may hold a new client up to proxyHoldTimeout, 10 s).</summary>
    public string ProxyConnectionString(int node, int commandTimeoutSeconds) =>
        ConnectionString(Lab.NodeAddress(node), ReadWritePort, 15, commandTimeoutSeconds);

    public async Task<T?> ScalarAsync<T>(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is null or DBNull ? default : (T)value;
    }

    /// <summary>
    /// Waits until exactly one node answers 200 on /primary, every other node on /replica, the committed view has a
    /// sync set and names that primary, and (with <paramref name="streaming"/>) the primary's PostgreSQL streams to
    /// every standby. Returns the primary.
    /// </summary>
    public async Task<int> WaitUntilHealthyAsync(TimeSpan timeout, bool streaming, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var last = "";
        while (true)
        {
            var (primary, problem) = await HealthAsync(streaming, cancellationToken);
            if (primary is { } healthy)
            {
                return healthy;
            }

            last = problem;
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"no healthy cluster within {timeout.TotalSeconds} s: {last}");
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    /// <summary>The healthy primary, or why the cluster is not healthy now.</summary>
    public async Task<(int? Primary, string Problem)> HealthAsync(bool streaming, CancellationToken cancellationToken)
    {
        var primaries = new List<int>();
        var replicas = new List<int>();
        foreach (var n in NodeNumbers)
        {
            if (await Api.OkAsync(n, "/primary", ApiProbe, cancellationToken))
            {
                primaries.Add(n);
            }
            else if (await Api.OkAsync(n, "/replica", ApiProbe, cancellationToken))
            {
                replicas.Add(n);
            }
        }

        if (primaries.Count != 1 || replicas.Count != Nodes - 1)
        {
            return (null, $"primaries [{string.Join(",", primaries)}], replicas [{string.Join(",", replicas)}]");
        }

        var primary = primaries[0];
        var state = await Api.StateAsync(primary, cancellationToken);
        if (state is null || state.View.Primary != NodeId(primary) || state.View.Sync.Quorum == 0)
        {
            return (null, $"node{primary} answers /primary but its view is {(state is null ? "unknown" : $"generation {state.View.Generation}, primary {state.View.Primary}, sync quorum {state.View.Sync.Quorum}")}");
        }

        if (streaming)
        {
            var count = await StreamingStandbysAsync(primary, cancellationToken);
            if (count != Nodes - 1)
            {
                return (null, $"node{primary} streams to {count?.ToString(CultureInfo.InvariantCulture) ?? "?"} standbys");
            }
        }

        return (primary, "");
    }

    private async Task<long?> StreamingStandbysAsync(int primary, CancellationToken cancellationToken)
    {
        try
        {
            return await ScalarAsync<long>(DirectConnectionString(primary), "select count(*) from pg_stat_replication where state = 'streaming'", cancellationToken);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>
    /// pg_hba admits the members only; this test process (the host's end of the lab) reads and writes each PostgreSQL
    /// directly too, so it is added as an extra pg_hba line through the cluster spec, as an operator would.
    /// </summary>
    private async Task AllowThisHostAsync(int primary, CancellationToken cancellationToken)
    {
        var patch = new SpecPatch { ExtraHbaLines = [$"host all all {Lab.HostAddress}/32 scram-sha-256"] };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var state = await Api.StateAsync(primary, cancellationToken);
            var answer = state is null ? null : await Api.PatchSpecAsync(state, patch, cancellationToken);
            if (answer?.Outcome == CommandOutcome.Applied)
            {
                break;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"the pg_hba spec change was not applied: {answer?.Message ?? "no leader answered"}");
            }

            await Task.Delay(500, cancellationToken);
        }

        foreach (var n in NodeNumbers)
        {
            while (true)
            {
                try
                {
                    await ScalarAsync<int>(DirectConnectionString(n), "select 1", cancellationToken);
                    break;
                }
                catch (NpgsqlException) when (clock.Elapsed < TimeSpan.FromSeconds(60))
                {
                    await Task.Delay(250, cancellationToken);
                }
            }
        }
    }

    /// <summary>The last lines of every node's pgraft log and PostgreSQL log.</summary>
    public string LogTails(int pgraftLines, int postgresLines)
    {
        var text = new StringBuilder();
        foreach (var (n, node) in _nodes)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"--- node{n} {node.LogFile} (last {pgraftLines} lines)");
            text.AppendJoin('\n', node.LogTail(pgraftLines)).AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"--- node{n} {node.PostgresLogFile} (last {postgresLines} lines)");
            text.AppendJoin('\n', NodeProcess.Tail(node.PostgresLogFile, postgresLines)).AppendLine();
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes.Values)
        {
            await node.DisposeAsync();
        }

        Api.Dispose();
        if (Environment.GetEnvironmentVariable("PGRAFT_KEEP_TEST_DATA") is not null)
        {
            _log.Line($"kept the cluster's data and logs in {Folder} (PGRAFT_KEEP_TEST_DATA)");
        }
    }

    private void Prepare(int n)
    {
        var folder = Path.Combine(Folder, NodeId(n));
        Directory.CreateDirectory(folder);
        File.SetUnixFileMode(folder, (UnixFileMode)0b111_101_101);
        var address = Lab.NodeAddress(n);
        var peers = string.Join(", ", NodeNumbers.Select(p => $$"""{ "Id": "{{NodeId(p)}}", "Raft": "{{Lab.NodeAddress(p)}}:{{RaftPort}}" }"""));
        File.WriteAllText(Path.Combine(folder, "pgraft.json"), $$"""
            {
              "NodeId": "{{NodeId(n)}}",
              "DataDir": "{{folder}}/data",
              "ClusterSecretFile": "{{Folder}}/cluster.secret",
              "Raft": { "Bind": "{{address}}:{{RaftPort}}" },
              "Api": { "Bind": "{{address}}:{{ClusterApi.Port}}" },
              "Postgres": { "Bind": "{{address}}:{{PostgresPort}}", "SuperuserPasswordFile": "{{Folder}}/superuser.password", "ReplicationPasswordFile": "{{Folder}}/replication.password" },
              "Proxy": { "ReadWriteBind": "{{address}}:{{ReadWritePort}}", "ReadOnlyBind": "{{address}}:{{ReadOnlyPort}}" },
              "Peers": [ {{peers}} ],
              "Logging": { "Level": "Debug" }
            }
            """);
        _nodes[n] = new NodeProcess(Lab, n, folder);
    }

    private void WriteSecret(string name, string value)
    {
        // Created 0600, so the secret is never readable by others, not even for a moment.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
        using var writer = new StreamWriter(Path.Combine(Folder, name), options);
        writer.Write(value);
    }
}

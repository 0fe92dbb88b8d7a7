using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Text;
using Npgsql;

namespace PgRaft.Node.Tests.EndToEnd;

/// <summary>The end-to-end test classes share one cluster and run one after the other (its ports are fixed).</summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "three-node cluster";
}

/// <summary>
/// Three real <c>pgraft run</c> processes on loopback (ports 28011–28053), each with its own PostgreSQL under the
/// fencing guard, in one temp folder. Started once per test class; every process is killed on dispose.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const int Nodes = 3;
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly Dictionary<int, Process> _processes = [];
    private readonly Dictionary<int, StreamWriter> _logs = [];

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "pgraft-e2e-" + Guid.NewGuid().ToString("N")[..8]);

    public string Password { get; } = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());

    public string AppPassword { get; } = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());

    public static int RaftPort(int n) => 28010 + n;

    public static int ApiPort(int n) => 28020 + n;

    public static int PostgresPort(int n) => 28030 + n;

    public static int ReadWritePort(int n) => 28040 + n;

    public static int ReadOnlyPort(int n) => 28050 + n;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Root);
        File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
        WriteSecret("cluster.secret", Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + "0123456789");
        WriteSecret("superuser.password", Password);
        WriteSecret("replication.password", Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()));
        WriteSecret("app.password", AppPassword);
        File.WriteAllText(Path.Combine(Root, "bootstrap.sql"), "CREATE TABLE bootstrap_marker (note text); INSERT INTO bootstrap_marker VALUES ('ran once');");
        for (var n = 1; n <= Nodes; n++)
        {
            WriteConfig(n, join: false);
            Start(n);
        }

        await WaitUntilHealthyAsync(TimeSpan.FromSeconds(240));
    }

    public string NodeDirectory(int n) => Path.Combine(Root, $"node{n}");

    /// <summary>
    /// Writes node <paramref name="n"/>'s configuration: one of the initial three, or (<paramref name="join"/>) a node
    /// that joins the running cluster, its Peers the three and not itself.
    /// </summary>
    public void WriteConfig(int n, bool join)
    {
        var peers = string.Join(",", Enumerable.Range(1, Nodes).Select(p => $"{{ \"Id\": \"node{p}\", \"Raft\": \"127.0.0.1:{RaftPort(p)}\" }}"));
        var dir = NodeDirectory(n);
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(dir, "pgraft.json"), $$"""
            {
              "NodeId": "node{{n}}",
              "Join": {{(join ? "true" : "false")}},
              "DataDir": "{{dir}}/data",
              "ClusterSecretFile": "{{Root}}/cluster.secret",
              "Raft": { "Bind": "127.0.0.1:{{RaftPort(n)}}" },
              "Api": { "Bind": "127.0.0.1:{{ApiPort(n)}}" },
              "Postgres": { "Bind": "127.0.0.1:{{PostgresPort(n)}}", "SuperuserPasswordFile": "{{Root}}/superuser.password", "ReplicationPasswordFile": "{{Root}}/replication.password" },
              "Proxy": { "ReadWriteBind": "127.0.0.1:{{ReadWritePort(n)}}", "ReadOnlyBind": "127.0.0.1:{{ReadOnlyPort(n)}}" },
              "Peers": [ {{peers}} ],
              "Bootstrap": { "Databases": [ "appdb" ], "Users": [ { "Name": "app", "PasswordFile": "{{Root}}/app.password" } ], "PostBootstrapSqlFile": "{{Root}}/bootstrap.sql" },
              "Logging": { "Level": "Debug" }
            }
            """);
    }

    public void Start(int n)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        RemovePgraftVariables(start);
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pgraft.dll"));
        start.ArgumentList.Add("run");
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(Path.Combine(NodeDirectory(n), "pgraft.json"));
        var process = Process.Start(start)!;
        if (!_logs.TryGetValue(n, out var log))
        {
            // One writer per node for the fixture's life: a restarted node appends to the same file.
            log = new StreamWriter(Path.Combine(NodeDirectory(n), "pgraft.log"), append: true) { AutoFlush = true };
            _logs[n] = log;
        }

        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes[n] = process;
    }

    public Process ProcessOf(int n) => _processes[n];

    /// <summary>pgraft reads every PGRAFT_* variable as a setting; the test run's own knobs must not reach it.</summary>
    public static void RemovePgraftVariables(ProcessStartInfo start)
    {
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("PGRAFT_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }
    }

    /// <summary>kill -9 of the node's pgraft; its guard then stops PostgreSQL (nothing else is killed by hand).</summary>
    public void Kill(int n)
    {
        var process = _processes[n];
        process.Kill();
        process.WaitForExit(10_000);
    }

    public static async Task<bool> EndpointOkAsync(int n, string path)
    {
        try
        {
            using var response = await Http.GetAsync(new Uri($"http://127.0.0.1:{ApiPort(n)}/{path}"));
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>The node whose /primary says 200, once exactly one does and the others serve as replicas.</summary>
    public async Task<int> WaitUntilHealthyAsync(TimeSpan timeout, IReadOnlyCollection<int>? nodes = null)
    {
        nodes ??= Enumerable.Range(1, Nodes).ToList();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var primaries = new List<int>();
            var replicas = 0;
            foreach (var n in nodes)
            {
                if (await EndpointOkAsync(n, "primary"))
                {
                    primaries.Add(n);
                }
                else if (await EndpointOkAsync(n, "replica"))
                {
                    replicas++;
                }
            }

            // In the default sync mode the cluster is ready for failovers only once a sync set is committed.
            if (primaries.Count == 1 && replicas == nodes.Count - 1 && await SyncSetCommittedAsync(primaries[0]))
            {
                return primaries[0];
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"no healthy cluster within {timeout.TotalSeconds} s (primaries: {string.Join(",", primaries)}, replicas: {replicas}); logs:\n{LogTails()}");
            }

            await Task.Delay(500);
        }
    }

    private static async Task<bool> SyncSetCommittedAsync(int n)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(await Http.GetStringAsync(new Uri($"http://127.0.0.1:{ApiPort(n)}/cluster")));
            return document.RootElement.GetProperty("view").GetProperty("sync").GetProperty("quorum").GetInt32() > 0;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or KeyNotFoundException)
        {
            return false;
        }
    }

    public string ConnectionString(int port, int timeoutSeconds = 5) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Username = "postgres",
            Password = Password,
            Database = "postgres",
            Pooling = false,
            Timeout = timeoutSeconds,
            CommandTimeout = 10,
        }.ConnectionString;

    public async Task<T> ScalarAsync<T>(int port, string sql, int timeoutSeconds = 5)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(port, timeoutSeconds));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Polls <paramref name="condition"/> every 250 ms; a server restarting (an Npgsql error) is asked again.</summary>
    public async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (NpgsqlException)
            {
                // A server restarting or still starting: ask again.
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"condition not met within {timeout.TotalSeconds} s; logs:\n{LogTails()}");
            }

            await Task.Delay(250);
        }
    }

    public string LogTails()
    {
        var text = new StringBuilder();
        for (var n = 1; n <= Nodes; n++)
        {
            var path = Path.Combine(NodeDirectory(n), "pgraft.log");
            if (File.Exists(path))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"--- node{n}");
                foreach (var line in File.ReadLines(path).TakeLast(25))
                {
                    text.AppendLine(line);
                }
            }
        }

        return text.ToString();
    }

    private void WriteSecret(string name, string value)
    {
        var path = Path.Combine(Root, name);
        File.WriteAllText(path, value);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes.Values)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    await process.WaitForExitAsync();
                }
            }
            catch (InvalidOperationException)
            {
            }
        }

        // The guards stop their postmasters when pgraft dies; give them a moment before removing the folder.
        await Task.Delay(1500);
        foreach (var log in _logs.Values)
        {
            lock (log)
            {
                log.Dispose();
            }
        }

        if (Environment.GetEnvironmentVariable("PGRAFT_KEEP_TEST_DATA") is null)
        {
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Instance;
using PgRaft.PgControl.Processes;

namespace PgRaft.PgControl.Tests.Support;

/// <summary>Where PostgreSQL and the guard are, who runs them, and the shared template data directory.</summary>
internal static class TestEnvironment
{
    public const string BinDirectory = "/usr/lib/postgresql/15/bin";
    public const string SuperPassword = "super-secret: 'x' \\ y";
    public const string ReplicationPassword = "repl:secret";

    private static readonly object PortGate = new();
    private static int _nextPort = 25000;
    private static readonly Lazy<Task<string>> Template = new(CreateTemplateAsync);
    private static readonly TempDirectory TemplateRoot = CreateTemplateRoot();

    private static TempDirectory CreateTemplateRoot()
    {
        // The template lives for the whole run; ProcessExit removes it, and a run whose host was
        // killed before that leaves one that the next run removes here.
        foreach (var stale in Directory.GetDirectories("/tmp", "pgc-template-*"))
        {
            var parts = Path.GetFileName(stale).Split('-');
            if (parts.Length >= 4 && int.TryParse(parts[2], out var pid) && !NativeMethods.IsAlive(pid))
            {
                try
                {
                    Directory.Delete(stale, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }
        var root = new TempDirectory($"template-{Environment.ProcessId}");
        // The test host may be torn down while ProcessExit handlers run, so a separate rm does the work.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                using var rm = Process.Start(new ProcessStartInfo("rm", ["-rf", root.Path]) { UseShellExecute = false });
            }
            catch (System.ComponentModel.Win32Exception)
            {
                root.Dispose();
            }
        };
        return root;
    }

    public static bool IsRoot => NativeMethods.EffectiveUserId == 0;

    public static string? OsUser => IsRoot ? "postgres" : null;

    /// <summary>The guard runs as `dotnet PgRaft.PgControl.GuardHost.dll guard`, built beside the tests.</summary>
    public static IReadOnlyList<string> GuardCommand =>
        ["dotnet", Path.Combine(AppContext.BaseDirectory, "PgRaft.PgControl.GuardHost.dll"), "guard"];

    /// <summary>Small, fast server settings for tests (fsync stays on).</summary>
    public static IReadOnlyDictionary<string, string> FastParameters => new Dictionary<string, string>
    {
        ["shared_buffers"] = "16MB",
        ["wal_keep_size"] = "64MB",
        ["checkpoint_timeout"] = "5min",
        ["wal_receiver_status_interval"] = "1s",
        ["wal_retrieve_retry_interval"] = "200ms",
        ["log_min_messages"] = "warning",
    };

    /// <summary>A free loopback port in 25000-25999 (this project's range).</summary>
    public static int FreePort()
    {
        lock (PortGate)
        {
            while (_nextPort < 26000)
            {
                var port = _nextPort++;
                try
                {
                    var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    listener.Stop();
                    return port;
                }
                catch (SocketException)
                {
                    // In use: try the next one.
                }
            }
        }
        throw new InvalidOperationException("No free port left in 25000-25999.");
    }

    /// <summary>A copy of a data directory initialised once per test run (by InitAsync itself).</summary>
    public static async Task CopyTemplateAsync(string destination)
    {
        var template = await Template.Value;
        var copy = await ProcessRunner.RunAsync(["cp", "-a", template, destination], TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.True(copy.ExitCode == 0, copy.OutputTail());
    }

    private static async Task<string> CreateTemplateAsync()
    {
        var directory = Path.Combine(TemplateRoot.Path, "data");
        var passwords = TemplateRoot.WritePasswordFiles();
        var instance = new PostgresInstance(Options(directory, FreePort(), passwords));
        await instance.InitAsync(CancellationToken.None);
        await instance.WriteConfigurationAsync(new PostgresConfiguration { Parameters = FastParameters }, CancellationToken.None);
        return directory;
    }

    public static PostgresOptions Options(string dataDirectory, int port, (string Super, string Replication) passwordFiles, string applicationName = "node", bool noLeaseRequired = true) =>
        new()
        {
            DataDirectory = dataDirectory,
            BinDirectory = BinDirectory,
            Port = port,
            ListenAddresses = "127.0.0.1",
            OsUser = OsUser,
            Superuser = PostgresCredentials.FromFile("postgres", passwordFiles.Super),
            Replication = PostgresCredentials.FromFile("replicator", passwordFiles.Replication),
            ApplicationName = applicationName,
            GuardCommand = GuardCommand,
            NoLeaseRequired = noLeaseRequired,
            StartTimeout = TimeSpan.FromSeconds(60),
            StopStageTimeout = TimeSpan.FromSeconds(10),
        };

    public static bool CanConnect(int port)
    {
        try
        {
            using var connection = new Npgsql.NpgsqlConnection(ConnectionString(port));
            connection.Open();
            using var command = new Npgsql.NpgsqlCommand("SELECT 1", connection);
            command.ExecuteScalar();
            return true;
        }
        catch (Npgsql.NpgsqlException)
        {
            return false;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public static string ConnectionString(int port) =>
        new Npgsql.NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = port, Username = "postgres", Password = SuperPassword, Database = "postgres", Pooling = false, Timeout = 3,
        }.ConnectionString;

    public static async Task<T> QueryAsync<T>(int port, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(ConnectionString(port));
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public static async Task ExecuteAsync(int port, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(ConnectionString(port));
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Polls until <paramref name="condition"/> holds, failing after <paramref name="timeout"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < timeout)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException or InvalidCastException)
            {
                last = e;
            }
            await Task.Delay(100);
        }
        Assert.Fail($"Timed out after {timeout.TotalSeconds} s waiting for {what}. Last error: {last?.Message}");
    }

    /// <summary>Kills a postmaster (and its process group) left on a data directory, whatever happened.</summary>
    public static void KillLeftovers(string dataDirectory)
    {
        var pidFile = Path.Combine(dataDirectory, "postmaster.pid");
        if (!File.Exists(pidFile))
        {
            return;
        }
        try
        {
            if (int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid) && pid > 0)
            {
                var cwd = new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget;
                if (cwd is not null && Path.GetFullPath(cwd).TrimEnd('/') == Path.GetFullPath(dataDirectory).TrimEnd('/'))
                {
                    NativeMethods.KillGroup(pid, NativeMethods.SIGKILL);
                    NativeMethods.Kill(pid, NativeMethods.SIGKILL);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

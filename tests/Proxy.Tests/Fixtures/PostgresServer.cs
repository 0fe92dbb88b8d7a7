using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Npgsql;

namespace PgRaft.Proxy.Tests.Fixtures;

/// <summary>A throw-away PostgreSQL 15 on a loopback port, TLS enabled with a self-signed certificate, trust auth.</summary>
internal sealed class PostgresServer : IAsyncDisposable
{
    public const string BinDirectory = "/usr/lib/postgresql/15/bin";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);

    private PostgresServer(string directory, int port)
    {
        Directory = directory;
        Port = port;
    }

    public string Directory { get; }

    public int Port { get; }

    public string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>Creates a data directory with initdb (run as postgres when root).</summary>
    public static async Task<string> InitTemplateAsync(string directory)
    {
        PrepareDirectory(directory);
        var data = Path.Combine(directory, "data");
        await ProcessRunner.RunCheckedAsync(Path.Combine(BinDirectory, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"], CommandTimeout, asPostgres: true);
        return data;
    }

    /// <summary>Starts a server on a copy of <paramref name="templateData"/>.</summary>
    public static async Task<PostgresServer> StartFromTemplateAsync(string templateData)
    {
        var directory = Path.Combine(Path.GetTempPath(), "pgraft-proxy-tests-" + Guid.NewGuid().ToString("N")[..12]);
        PrepareDirectory(directory);
        var server = new PostgresServer(directory, TestPorts.Next());
        try
        {
            await ProcessRunner.RunCheckedAsync("cp", ["-a", templateData, server.DataDirectory], CommandTimeout, asPostgres: true);
            server.WriteCertificate();
            await File.AppendAllTextAsync(Path.Combine(server.DataDirectory, "postgresql.conf"), $"""

                port = {server.Port}
                listen_addresses = '127.0.0.1'
                unix_socket_directories = '{directory}'
                fsync = off
                synchronous_commit = off
                full_page_writes = off
                shared_buffers = 32MB
                max_connections = 60
                ssl = on
                ssl_cert_file = '{Path.Combine(directory, "server.crt")}'
                ssl_key_file = '{Path.Combine(directory, "server.key")}'

                """);
            await ProcessRunner.RunCheckedAsync(Path.Combine(BinDirectory, "pg_ctl"), ["-D", server.DataDirectory, "-l", Path.Combine(directory, "log"), "-w", "-t", "60", "start"], CommandTimeout, asPostgres: true);
            server.StartWatchdog();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public string ConnectionString(int? port = null, string sslMode = "Disable") =>
        $"Host=127.0.0.1;Port={port ?? Port};Username=postgres;Database=postgres;Pooling=false;SSL Mode={sslMode};GSS Encryption Mode=Disable;Timeout=15;Command Timeout=120";

    public async Task<NpgsqlConnection> OpenAsync(int? port = null, string sslMode = "Disable", CancellationToken cancellationToken = default)
    {
        var connection = new NpgsqlConnection(ConnectionString(port, sslMode));
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                await ProcessRunner.RunAsync(Path.Combine(BinDirectory, "pg_ctl"), ["-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"], CommandTimeout, asPostgres: true);
            }
        }
        finally
        {
            KillLeftovers();
            TryDelete(Directory);
        }
    }

    public static void TryDelete(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: /tmp is cleaned eventually.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    public static void PrepareDirectory(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        if (ProcessRunner.IsRoot)
        {
            ProcessRunner.RunCheckedAsync("chown", ["postgres:postgres", directory], CommandTimeout).GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// If the test process dies without disposing (killed, crashed), a small shell loop stops the
    /// server and removes its directory; it ends by itself once the directory is gone.
    /// </summary>
    private void StartWatchdog()
    {
        var stop = $"{(ProcessRunner.IsRoot ? "runuser -u postgres -- " : "")}{BinDirectory}/pg_ctl -D '{DataDirectory}' -m immediate stop";
        var script = $"while kill -0 {Environment.ProcessId} 2>/dev/null && [ -d '{Directory}' ]; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{Directory}'";
        var start = new System.Diagnostics.ProcessStartInfo("sh") { ArgumentList = { "-c", script }, UseShellExecute = false };
        using var watchdog = System.Diagnostics.Process.Start(start);
    }

    private void KillLeftovers()
    {
        // If pg_ctl could not stop it, kill the postmaster named in its pid file.
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        try
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid))
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    private void WriteCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        var certificatePath = Path.Combine(Directory, "server.crt");
        var keyPath = Path.Combine(Directory, "server.key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem(), System.Text.Encoding.ASCII);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        if (ProcessRunner.IsRoot)
        {
            ProcessRunner.RunCheckedAsync("chown", ["postgres:postgres", certificatePath, keyPath], CommandTimeout).GetAwaiter().GetResult();
        }
    }
}

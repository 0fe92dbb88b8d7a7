using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Guard;
using PgRaft.PgControl.Processes;

namespace PgRaft.PgControl.Instance;

/// <summary>
/// One local PostgreSQL data directory and its server, run under the fencing guard. Lifecycle calls
/// (init, start, stop, promote, follow, clone, rewind, configuration) are meant to come from one caller
/// at a time (the keeper); <see cref="ProbeAsync"/> and <see cref="RenewLeaseAsync"/> may run alongside them.
/// </summary>
internal sealed partial class PostgresInstance : IAsyncDisposable
{
    private const string StandbySignal = "standby.signal";
    private const string RecoverySignal = "recovery.signal";

    private readonly PostgresOptions _options;
    private readonly ILogger _logger;
    private PostgresBinaries? _binaries;
    private OsIdentity? _identity;
    private volatile GuardedPostmaster? _postmaster;
    private PostgresConfiguration _configuration = new();
    private UpstreamServer? _upstream;
    private volatile bool _leaseGranted;
    private readonly Lock _localGate = new();
    private NpgsqlDataSource? _localDataSource;

    public PostgresInstance(PostgresOptions options, ILogger<PostgresInstance>? logger = null)
    {
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public PostgresOptions Options => _options;

    public string DataDirectory => _options.DataDirectoryFull;

    /// <summary>Raised (on a pool thread) whenever a postmaster this instance started exits, however it ended.</summary>
    public event Action<PostmasterExit>? PostmasterExited;

    public PostmasterExit? LastExit { get; private set; }

    /// <summary>The postmaster this instance started is alive.</summary>
    public bool IsRunning => _postmaster is { HasExited: false };

    public int? PostmasterPid => _postmaster is { HasExited: false } p ? p.PostmasterPid : null;

    public int? GuardPid => _postmaster is { HasExited: false } p ? p.GuardPid : null;

    /// <summary>The role the running server was started in or promoted to.</summary>
    public ServerRole? Role { get; private set; }

    public UpstreamServer? Upstream => _upstream;

    public PostgresConfiguration Configuration => _configuration;

    public bool IsInitialized => File.Exists(Path.Combine(DataDirectory, "PG_VERSION"));

    /// <summary>Completes when the current postmaster exits (at once when none runs).</summary>
    public Task<PostmasterExit> WaitForExitAsync(CancellationToken cancellationToken) =>
        _postmaster is { } p ? p.Exited.WaitAsync(cancellationToken) : Task.FromResult(LastExit ?? new PostmasterExit(null, null));

    public async Task<PostgresBinaries> GetBinariesAsync(CancellationToken cancellationToken) =>
        _binaries ??= await PostgresBinaries.ResolveAsync(_options.BinDirectory, cancellationToken);

    private async Task<(PostgresBinaries, OsIdentity)> EnvironmentAsync(CancellationToken cancellationToken)
    {
        var binaries = await GetBinariesAsync(cancellationToken);
        _identity ??= await OsIdentity.ResolveAsync(_options.OsUser, cancellationToken);
        return (binaries, _identity);
    }

    // ---------------------------------------------------------------- init

    /// <summary>
    /// Creates a new cluster in an empty or missing data directory: initdb with data checksums and
    /// scram-sha-256, the superuser's password from a 0600 file, then the replication role (created in
    /// single-user mode from a SCRAM verifier, so no clear-text password reaches the server).
    /// </summary>
    public async Task InitAsync(CancellationToken cancellationToken)
    {
        var (binaries, identity) = await EnvironmentAsync(cancellationToken);
        if (IsInitialized || (Directory.Exists(DataDirectory) && Directory.EnumerateFileSystemEntries(DataDirectory).Any()))
        {
            throw new PgControlException(PgControlError.DataDirectoryNotEmpty,
                $"Data directory '{DataDirectory}' is not empty; initdb needs an empty one. Nothing was changed.");
        }
        LogMessages.Initializing(_logger, binaries.MajorVersion, DataDirectory);
        var superPassword = _options.Superuser.ReadPassword();
        var replicationPassword = _options.Replication.ReadPassword();
        CreatePrivateDirectory(DataDirectory, identity);
        var passwordFile = DataDirectory + ".initpw-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            await AtomicFile.WriteAsync(passwordFile, superPassword + "\n", UnixFiles.Private, identity, cancellationToken);
            var argv = new List<string>
            {
                binaries.Initdb, "-D", DataDirectory, "-U", _options.Superuser.UserName, "--pwfile=" + passwordFile,
                "--auth=scram-sha-256", "--data-checksums", "--no-instructions",
            };
            argv.AddRange(_options.InitdbArguments);
            var result = await ProcessRunner.RunAsync(identity.Wrap(argv), _options.ToolTimeout, cancellationToken, ParentDirectory);
            if (result.ExitCode != 0)
            {
                throw new PgControlException(PgControlError.CommandFailed, $"initdb failed with exit code {result.ExitCode}.", result.OutputTail());
            }
        }
        finally
        {
            File.Delete(passwordFile);
        }
        if (!string.Equals(_options.Replication.UserName, _options.Superuser.UserName, StringComparison.Ordinal))
        {
            var sql = $"CREATE ROLE {QuoteIdentifier(_options.Replication.UserName)} WITH LOGIN REPLICATION PASSWORD '{ScramVerifier.Create(replicationPassword)}';\n";
            var single = await ProcessRunner.RunAsync(
                identity.Wrap([binaries.Postgres, "--single", "-D", DataDirectory, "postgres"]),
                _options.ToolTimeout, cancellationToken, ParentDirectory, standardInput: sql);
            if (single.ExitCode != 0 || single.StandardOutput.Contains("ERROR:", StringComparison.Ordinal) || single.StandardError.Contains("ERROR:", StringComparison.Ordinal))
            {
                throw new PgControlException(PgControlError.CommandFailed,
                    $"Creating the replication role '{_options.Replication.UserName}' failed (exit code {single.ExitCode}).",
                    RedactVerifier(single.OutputTail()));
            }
        }
        await WriteServerFilesAsync(ServerRole.Primary, cancellationToken);
    }

    // ---------------------------------------------------------------- start

    /// <summary>
    /// Starts PostgreSQL under the guard and waits until it accepts connections. A primary needs a lease
    /// (the time left until the fence deadline) unless <see cref="PostgresOptions.NoLeaseRequired"/>; a
    /// standby runs with no deadline. The managed files are rewritten first, so the server always starts
    /// with this instance's configuration, role and upstream.
    /// </summary>
    public async Task StartAsync(ServerRole role, TimeSpan? lease = null, ulong? expectedSystemIdentifier = null, CancellationToken cancellationToken = default)
    {
        ResetLocalConnections();
        var clock = Stopwatch.StartNew();
        if (_postmaster is { HasExited: true })
        {
            await DisposePostmasterAsync();
        }
        if (IsRunning)
        {
            throw new PgControlException(PgControlError.AlreadyRunning, $"PostgreSQL on '{DataDirectory}' is already running (pid {PostmasterPid}); stop it first.");
        }
        if (role == ServerRole.Primary && lease is null && !_options.NoLeaseRequired)
        {
            throw new PgControlException(PgControlError.LeaseRequired,
                "A primary starts only with a lease (or with NoLeaseRequired for standalone use), so it is fenced from its first write.");
        }
        var (binaries, identity) = await EnvironmentAsync(cancellationToken);
        await CheckDataDirectoryAsync(identity, cancellationToken);
        if (expectedSystemIdentifier is { } expected)
        {
            var control = await ReadControlDataAsync(cancellationToken);
            if (control.SystemIdentifier != expected)
            {
                throw new PgControlException(PgControlError.SystemIdentifierMismatch,
                    $"Data directory '{DataDirectory}' belongs to another cluster (system identifier {control.SystemIdentifier}, expected {expected}): it was not started. Clone from the cluster's primary (the directory is then renamed aside).");
            }
        }
        await HandleExistingPostmasterAsync(cancellationToken);
        CheckPortFree();
        await WriteServerFilesAsync(role, cancellationToken);
        var logStart = PrepareLogFile(identity);

        LogMessages.Starting(_logger, role.ToString(), _options.Port);
        var command = new List<string> { "/bin/sh", "-c", "exec \"$@\" >>\"$0\" 2>&1", _options.LogFileFull };
        var setsid = OsIdentity.FindOnPath("setsid")
            ?? throw new PgControlException(PgControlError.StartFailed, "'setsid' (package util-linux) is not on PATH; it puts the postmaster in its own process group.");
        command.Add(setsid);
        command.AddRange(identity.Wrap([binaries.Postgres, "-D", DataDirectory], parentDeathSignal: true));

        TimeSpan? Remaining() => lease is { } l ? l - clock.Elapsed : null;
        if (Remaining() is { } left && left <= TimeSpan.Zero)
        {
            throw new PgControlException(PgControlError.LeaseRequired, "The lease ran out before PostgreSQL could be started; it was not started.");
        }
        var postmaster = await GuardedPostmaster.LaunchAsync(_options.GuardCommand, command, _options.FenceKillAfter, Remaining, _logger, cancellationToken);
        _postmaster = postmaster;
        _leaseGranted = lease is not null;
        Role = role;
        _ = ObserveExitAsync(postmaster);
        try
        {
            await WaitUntilReadyAsync(postmaster, logStart, cancellationToken);
        }
        catch
        {
            await postmaster.DisposeAsync();
            _postmaster = null;
            throw;
        }
        LogMessages.Ready(_logger, role.ToString(), postmaster.PostmasterPid ?? 0);
    }

    private async Task ObserveExitAsync(GuardedPostmaster postmaster)
    {
        var exit = await postmaster.Exited;
        LastExit = exit;
        LogMessages.PostmasterExited(_logger, exit.ExitCode, exit.FenceReason);
        PostmasterExited?.Invoke(exit);
    }

    private async Task WaitUntilReadyAsync(GuardedPostmaster postmaster, long logStart, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        string? lastError = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (postmaster.HasExited)
            {
                var exit = await postmaster.Exited;
                throw new PgControlException(PgControlError.StartFailed,
                    $"PostgreSQL exited while starting (exit code {exit.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}{(exit.FenceReason is null ? "" : ", fenced: " + exit.FenceReason)}).",
                    ReadLogTail(logStart));
            }
            if (clock.Elapsed > _options.StartTimeout)
            {
                throw new PgControlException(PgControlError.StartTimedOut,
                    $"PostgreSQL did not accept connections within {_options.StartTimeout.TotalSeconds:0.#} s (last error: {lastError ?? "none"}); it was stopped.",
                    ReadLogTail(logStart));
            }
            if (postmaster.Started.IsCompletedSuccessfully)
            {
                try
                {
                    await using var connection = await OpenLocalAsync(cancellationToken);
                    await using var command = new NpgsqlCommand("SELECT 1", connection);
                    await command.ExecuteScalarAsync(cancellationToken);
                    return;
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    lastError = e.Message;
                }
            }
            await Task.Delay(50, cancellationToken);
        }
    }

    private long PrepareLogFile(OsIdentity identity)
    {
        var log = _options.LogFileFull;
        if (!File.Exists(log))
        {
            using (UnixFiles.CreateNew(log, UnixFiles.Private | UnixFileMode.GroupRead))
            {
            }
            identity.GiveOwnership(log);
        }
        return new FileInfo(log).Length;
    }

    /// <summary>The last lines PostgreSQL logged since <paramref name="from"/> (a byte offset in the log file).</summary>
    internal string ReadLogTail(long from = 0, int lines = 20)
    {
        try
        {
            using var stream = new FileStream(_options.LogFileFull, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var start = Math.Max(from, stream.Length - 64 * 1024);
            stream.Seek(start, SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (IOException)
        {
            return "(no PostgreSQL log)";
        }
    }

    // ---------------------------------------------------------------- lease

    /// <summary>
    /// Moves the guard's deadline to now + <paramref name="remaining"/>. Pass the time left until the
    /// lease's end minus the fence margin. False when no postmaster runs.
    /// </summary>
    public async ValueTask<bool> RenewLeaseAsync(TimeSpan remaining, CancellationToken cancellationToken)
    {
        if (_postmaster is not { HasExited: false } postmaster)
        {
            return false;
        }
        var sent = await postmaster.RenewLeaseAsync(remaining, cancellationToken);
        _leaseGranted |= sent;
        return sent;
    }

    /// <summary>Tells the guard to stop PostgreSQL at once (immediate shutdown), as when the lease is lost.</summary>
    public async Task FenceAsync(CancellationToken cancellationToken)
    {
        if (_postmaster is { HasExited: false } postmaster)
        {
            await postmaster.FenceAsync(cancellationToken);
            await postmaster.Exited.WaitAsync(cancellationToken);
            await DisposePostmasterAsync();
        }
    }

    // ---------------------------------------------------------------- stop

    /// <summary>Stops PostgreSQL in <paramref name="mode"/>, escalating smart → fast → immediate → SIGKILL on timeouts.</summary>
    public async Task StopAsync(StopMode mode = StopMode.Fast, CancellationToken cancellationToken = default)
    {
        if (_postmaster is { } postmaster)
        {
            if (!postmaster.HasExited)
            {
                LogMessages.Stopping(_logger, mode.ToString());
                if (postmaster.Started.IsCompletedSuccessfully)
                {
                    await SignalUntilGoneAsync(postmaster.Started.Result, mode, postmaster.Exited, cancellationToken);
                }
                // Otherwise the guard never launched it; disposing the guard below is all there is to do.
            }
            await DisposePostmasterAsync();
            return;
        }
        // Not ours: a postmaster left running on this data directory (e.g. by an earlier pgraft).
        if (ReadPidFile() is { } orphan && NativeMethods.IsAlive(orphan) && IsPostmasterOf(orphan))
        {
            LogMessages.Stopping(_logger, mode.ToString());
            await SignalUntilGoneAsync(orphan, mode, WaitForPidAsync(orphan, cancellationToken), cancellationToken);
        }
    }

    private async Task SignalUntilGoneAsync(int pid, StopMode mode, Task exited, CancellationToken cancellationToken)
    {
        var stages = new List<(StopMode Mode, int Signal)>();
        if (mode == StopMode.Smart)
        {
            stages.Add((StopMode.Smart, NativeMethods.SIGTERM));
        }
        if (mode <= StopMode.Fast)
        {
            stages.Add((StopMode.Fast, NativeMethods.SIGINT));
        }
        stages.Add((StopMode.Immediate, NativeMethods.SIGQUIT));
        foreach (var (stageMode, signal) in stages)
        {
            NativeMethods.Kill(pid, signal);
            if (await CompletesWithinAsync(exited, _options.StopStageTimeout, cancellationToken))
            {
                NativeMethods.KillGroup(pid, NativeMethods.SIGKILL);
                return;
            }
            LogMessages.StopEscalating(_logger, stageMode.ToString());
        }
        NativeMethods.KillGroup(pid, NativeMethods.SIGKILL);
        NativeMethods.Kill(pid, NativeMethods.SIGKILL);
        if (!await CompletesWithinAsync(exited, TimeSpan.FromSeconds(10), cancellationToken))
        {
            throw new PgControlException(PgControlError.StopTimedOut, $"The postmaster (pid {pid}) survived SIGKILL for 10 s.");
        }
    }

    private static async Task<bool> CompletesWithinAsync(Task task, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(timeout, cancellationToken);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static async Task WaitForPidAsync(int pid, CancellationToken cancellationToken)
    {
        while (NativeMethods.IsAlive(pid))
        {
            await Task.Delay(20, cancellationToken);
        }
    }

    private async Task DisposePostmasterAsync()
    {
        ResetLocalConnections();
        if (_postmaster is { } postmaster)
        {
            _postmaster = null;
            await postmaster.DisposeAsync();
        }
        _leaseGranted = false;
        Role = null;
    }

    /// <summary>Stops PostgreSQL at once if it runs (closing the guard's pipe fences it).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_postmaster is { HasExited: false })
        {
            try
            {
                await StopAsync(StopMode.Immediate, CancellationToken.None);
            }
            catch (PgControlException)
            {
                // Disposing the guard below fences anyway.
            }
        }
        await DisposePostmasterAsync();
    }

    // ---------------------------------------------------------------- checks

    private async Task CheckDataDirectoryAsync(OsIdentity identity, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(DataDirectory))
        {
            throw new PgControlException(PgControlError.DataDirectoryMissing,
                $"Data directory '{DataDirectory}' does not exist: initialise it or clone it from the primary.");
        }
        if (!IsInitialized)
        {
            throw new PgControlException(PgControlError.DataDirectoryNotInitialized,
                $"'{DataDirectory}' is not a PostgreSQL data directory (no PG_VERSION): initialise it or clone it from the primary.");
        }
        var stat = await ProcessRunner.RunAsync(["stat", "-c", "%u %a", DataDirectory], TimeSpan.FromSeconds(10), cancellationToken);
        var parts = stat.StandardOutput.Trim().Split(' ');
        if (stat.ExitCode != 0 || parts.Length != 2 || !uint.TryParse(parts[0], CultureInfo.InvariantCulture, out var owner))
        {
            throw new PgControlException(PgControlError.DataDirectoryOwnership, $"Could not read the owner of '{DataDirectory}': {stat.OutputTail(2)}");
        }
        if (owner != identity.Uid)
        {
            throw new PgControlException(PgControlError.DataDirectoryOwnership,
                $"Data directory '{DataDirectory}' is owned by uid {owner}, but PostgreSQL runs as '{identity.UserName}' (uid {identity.Uid}): chown -R {identity.UserName} '{DataDirectory}'.");
        }
        var mode = Convert.ToInt32(parts[1], 8);
        if ((mode & 0b000_010_111) != 0)
        {
            throw new PgControlException(PgControlError.DataDirectoryPermissions,
                $"Data directory '{DataDirectory}' has permissions {parts[1]}, which PostgreSQL refuses: chmod 0700 '{DataDirectory}'.");
        }
    }

    private void CheckPortFree()
    {
        foreach (var address in ListenIpAddresses())
        {
            try
            {
                var listener = new TcpListener(address, _options.Port);
                listener.Start();
                listener.Stop();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new PgControlException(PgControlError.PortInUse,
                    $"Port {_options.Port} on {address} is already in use by another program: stop it or configure another PostgreSQL port.");
            }
            catch (SocketException)
            {
                // Address not configured here (e.g. no IPv6); PostgreSQL will say so in its log.
            }
        }
    }

    private IEnumerable<IPAddress> ListenIpAddresses()
    {
        foreach (var entry in _options.ListenAddresses.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (entry == "*")
            {
                yield return IPAddress.Any;
            }
            else if (IPAddress.TryParse(entry, out var ip))
            {
                yield return ip;
            }
            else
            {
                IPAddress[] resolved;
                try
                {
                    resolved = Dns.GetHostAddresses(entry);
                }
                catch (SocketException)
                {
                    continue;
                }
                foreach (var address in resolved)
                {
                    yield return address;
                }
            }
        }
    }

    private int? ReadPidFile()
    {
        try
        {
            var first = File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).FirstOrDefault();
            return int.TryParse(first, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="pid"/> is a postmaster working in this data directory (it chdirs there).</summary>
    private bool IsPostmasterOf(int pid)
    {
        try
        {
            var cwd = new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget;
            if (cwd is null)
            {
                return false;
            }
            return string.Equals(Path.GetFullPath(cwd).TrimEnd('/'), RealPath(DataDirectory), StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not allowed to look: it may well be ours, so treat it as running.
            return NativeMethods.IsAlive(pid);
        }
    }

    private static string RealPath(string path)
    {
        var info = new DirectoryInfo(path);
        var target = info.ResolveLinkTarget(returnFinalTarget: true);
        return (target?.FullName ?? info.FullName).TrimEnd('/');
    }

    /// <summary>A postmaster left from an earlier run is stopped at once (it is unfenced); a stale postmaster.pid is moved aside.</summary>
    private async Task HandleExistingPostmasterAsync(CancellationToken cancellationToken)
    {
        if (ReadPidFile() is not { } pid)
        {
            return;
        }
        if (NativeMethods.IsAlive(pid) && IsPostmasterOf(pid))
        {
            LogMessages.OrphanPostmaster(_logger, pid);
            NativeMethods.Kill(pid, NativeMethods.SIGQUIT);
            if (!await CompletesWithinAsync(WaitForPidAsync(pid, cancellationToken), TimeSpan.FromSeconds(5), cancellationToken))
            {
                NativeMethods.KillGroup(pid, NativeMethods.SIGKILL);
                NativeMethods.Kill(pid, NativeMethods.SIGKILL);
                if (!await CompletesWithinAsync(WaitForPidAsync(pid, cancellationToken), TimeSpan.FromSeconds(5), cancellationToken))
                {
                    throw new PgControlException(PgControlError.AlreadyRunning, $"A postmaster (pid {pid}) runs on '{DataDirectory}' and could not be stopped.");
                }
            }
            NativeMethods.KillGroup(pid, NativeMethods.SIGKILL);
        }
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (File.Exists(pidFile))
        {
            LogMessages.StalePidFile(_logger, pid);
            File.Move(pidFile, pidFile + ".stale-" + Timestamp());
        }
    }

    // ---------------------------------------------------------------- helpers

    private string ParentDirectory => Path.GetDirectoryName(DataDirectory) ?? "/";

    internal static string Timestamp() => DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss.fff'Z'", CultureInfo.InvariantCulture);

    private static void CreatePrivateDirectory(string path, OsIdentity identity)
    {
        UnixFiles.CreatePrivateDirectory(path);
        identity.GiveOwnership(path);
    }

    /// <summary>Renames a directory aside with a timestamp suffix; returns the new path.</summary>
    private string MoveAside(string path, string label)
    {
        var aside = $"{path}.{label}-{Timestamp()}";
        Directory.Move(path, aside);
        LogMessages.MovedAside(_logger, aside);
        return aside;
    }

    internal static string QuoteIdentifier(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string RedactVerifier(string text)
    {
        var index = text.IndexOf("SCRAM-SHA-256$", StringComparison.Ordinal);
        return index < 0 ? text : text[..index] + "(verifier redacted)";
    }
}

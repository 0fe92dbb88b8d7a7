using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Processes;
using PgRaft.PgControl.Wal;

namespace PgRaft.PgControl.Instance;

internal sealed partial class PostgresInstance
{
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Sets the parameters, sync standby names and pg_hba rules and writes them (atomically) into the data
    /// directory. Nothing is reloaded: the result says whether a reload applies the change or which
    /// parameters need a restart (known only while the server runs; a stopped server picks all up at start).
    /// </summary>
    public async Task<ConfigurationChange> WriteConfigurationAsync(PostgresConfiguration configuration, CancellationToken cancellationToken)
    {
        foreach (var (name, value) in configuration.Parameters)
        {
            ConfigRenderer.ValidateParameter(name, value);
        }
        foreach (var member in configuration.MemberAddresses)
        {
            ConfigRenderer.HbaAddress(member);
        }
        _configuration = configuration;
        if (!IsInitialized)
        {
            return ConfigurationChange.None;
        }
        var role = Role ?? (File.Exists(Path.Combine(DataDirectory, StandbySignal)) ? ServerRole.Standby : ServerRole.Primary);
        var (changed, hbaChanged) = await WriteServerFilesAsync(role, cancellationToken, touchSignalFiles: false);
        IReadOnlyList<string> restart = [];
        if (changed.Count > 0 && IsRunning)
        {
            restart = await QueryRestartRequiredAsync(changed, cancellationToken);
        }
        LogMessages.ConfigurationWritten(_logger, string.Join(", ", changed), string.Join(", ", restart));
        return new ConfigurationChange(changed, hbaChanged, restart);
    }

    /// <summary>Writes the managed include file, pg_hba.conf, the include line and (optionally) the role's signal files.</summary>
    private async Task<(IReadOnlyList<string> Changed, bool HbaChanged)> WriteServerFilesAsync(
        ServerRole role, CancellationToken cancellationToken, bool touchSignalFiles = true)
    {
        var (_, identity) = await EnvironmentAsync(cancellationToken);
        await WritePassFileAsync(identity, cancellationToken);

        var includePath = Path.Combine(DataDirectory, ConfigRenderer.IncludeFileName);
        var previous = File.Exists(includePath) ? ConfigRenderer.ParseInclude(await File.ReadAllTextAsync(includePath, cancellationToken)) : [];
        var parameters = ConfigRenderer.Parameters(
            new ConfigRenderer.ServerSettings(
                _options.ListenAddresses,
                _options.Port,
                _options.SocketDirectory,
                role == ServerRole.Primary ? _configuration.SynchronousStandbyNames : "",
                _upstream is null ? null : PrimaryConnInfo(_upstream),
                _upstream?.SlotName),
            _configuration.Parameters);
        var current = parameters.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var changed = current.Where(p => !previous.TryGetValue(p.Key, out var old) || old != p.Value).Select(p => p.Key)
            .Concat(previous.Keys.Where(k => !current.ContainsKey(k)))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (changed.Count > 0)
        {
            await AtomicFile.WriteAsync(includePath, ConfigRenderer.RenderInclude(parameters), PrivateFile, identity, cancellationToken);
        }

        var hbaPath = Path.Combine(DataDirectory, "pg_hba.conf");
        var hba = ConfigRenderer.RenderHba(_options.Replication.UserName, _configuration.MemberAddresses, _configuration.ExtraHbaLines, _options.SocketDirectory is not null);
        var hbaChanged = !File.Exists(hbaPath) || await File.ReadAllTextAsync(hbaPath, cancellationToken) != hba;
        if (hbaChanged)
        {
            await AtomicFile.WriteAsync(hbaPath, hba, PrivateFile, identity, cancellationToken);
        }

        var mainConf = Path.Combine(DataDirectory, "postgresql.conf");
        var main = File.Exists(mainConf) ? await File.ReadAllTextAsync(mainConf, cancellationToken) : "";
        var lines = main.Split('\n');
        if (lines.LastOrDefault(l => l.Trim().Length > 0)?.Trim() != ConfigRenderer.IncludeLine)
        {
            // The include goes last so the managed settings win over anything above them.
            var kept = lines.Where(l => l.Trim() != ConfigRenderer.IncludeLine);
            var text = string.Join('\n', kept).TrimEnd('\n') + "\n" + ConfigRenderer.IncludeLine + "\n";
            await AtomicFile.WriteAsync(mainConf, text, PrivateFile, identity, cancellationToken);
        }

        if (touchSignalFiles)
        {
            var standbySignal = Path.Combine(DataDirectory, StandbySignal);
            if (role == ServerRole.Standby)
            {
                if (!File.Exists(standbySignal))
                {
                    await AtomicFile.WriteAsync(standbySignal, "", PrivateFile, identity, cancellationToken);
                }
            }
            else if (File.Exists(standbySignal))
            {
                File.Delete(standbySignal);
            }
            var recoverySignal = Path.Combine(DataDirectory, RecoverySignal);
            if (File.Exists(recoverySignal))
            {
                File.Delete(recoverySignal);
            }
        }
        return (changed, hbaChanged);
    }

    private string PrimaryConnInfo(UpstreamServer upstream) =>
        ConfigRenderer.ConnInfo(
        [
            new("host", upstream.Host),
            new("port", upstream.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("user", _options.Replication.UserName),
            new("passfile", _options.PassFileFull),
            new("application_name", _options.ApplicationName),
            new("connect_timeout", "2"),
            new("keepalives_idle", "5"),
            new("keepalives_interval", "2"),
            new("keepalives_count", "3"),
        ]);

    /// <summary>The libpq password file (0600, owned by the OS user) for walreceiver, pg_basebackup and pg_rewind.</summary>
    private async Task WritePassFileAsync(OsIdentity identity, CancellationToken cancellationToken)
    {
        var lines = ConfigRenderer.PassFileLine(_options.Replication.UserName, _options.Replication.ReadPassword()) + "\n";
        if (!string.Equals(_options.Replication.UserName, _options.Superuser.UserName, StringComparison.Ordinal))
        {
            lines += ConfigRenderer.PassFileLine(_options.Superuser.UserName, _options.Superuser.ReadPassword()) + "\n";
        }
        var path = _options.PassFileFull;
        if (!File.Exists(path) || await File.ReadAllTextAsync(path, cancellationToken) != lines)
        {
            await AtomicFile.WriteAsync(path, lines, PrivateFile, identity, cancellationToken);
        }
    }

    /// <summary>Reads pg_controldata of the data directory (the server may be running or not).</summary>
    public async Task<ControlData> ReadControlDataAsync(CancellationToken cancellationToken)
    {
        var (binaries, identity) = await EnvironmentAsync(cancellationToken);
        if (!IsInitialized)
        {
            throw new PgControlException(PgControlError.DataDirectoryNotInitialized, $"'{DataDirectory}' is not a PostgreSQL data directory (no PG_VERSION).");
        }
        var result = await ProcessRunner.RunAsync(identity.Wrap([binaries.PgControldata, "-D", DataDirectory]), TimeSpan.FromSeconds(30), cancellationToken, ParentDirectory);
        if (result.ExitCode != 0)
        {
            throw new PgControlException(PgControlError.CommandFailed, $"pg_controldata failed with exit code {result.ExitCode}.", result.OutputTail());
        }
        try
        {
            return ControlData.Parse(result.StandardOutput);
        }
        catch (FormatException e)
        {
            throw new PgControlException(PgControlError.CommandFailed, $"Could not read pg_controldata's output: {e.Message}", inner: e);
        }
    }

    /// <summary>
    /// Where <paramref name="timeline"/> forked from its parent in this data directory: the switch point on the last line
    /// of <c>pg_wal/%08X.history</c>, which PostgreSQL writes at a promotion and a standby fetches with the timeline.
    /// Null for timeline 1 and when the file is missing. Together with the number it tells same-numbered timelines apart.
    /// </summary>
    public async Task<Lsn?> ReadTimelineForkAsync(int timeline, CancellationToken cancellationToken)
    {
        if (timeline <= 1)
        {
            return null;
        }
        var path = Path.Combine(DataDirectory, "pg_wal", timeline.ToString("X8", System.Globalization.CultureInfo.InvariantCulture) + ".history");
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        try
        {
            var entries = Rewind.RewindAssessor.ParseHistory(text);
            return entries.Count > 0 ? entries[^1].SwitchPoint : null;
        }
        catch (FormatException e)
        {
            throw new PgControlException(PgControlError.CommandFailed, $"'{path}' is not a timeline history file: {e.Message}", inner: e);
        }
    }

    /// <summary><see cref="ReadTimelineForkAsync"/> for a probe: an unreadable history file leaves the fork unknown rather than failing the probe.</summary>
    private async Task<Lsn?> ReadTimelineForkOrNullAsync(int timeline, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadTimelineForkAsync(timeline, cancellationToken);
        }
        catch (Exception e) when (e is PgControlException or IOException or UnauthorizedAccessException)
        {
            LogMessages.TimelineHistoryUnreadable(_logger, timeline, e.Message);
            return null;
        }
    }
}

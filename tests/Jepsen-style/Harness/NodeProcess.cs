using System.Diagnostics;
using PgRaft.JepsenStyle.Lab;

namespace PgRaft.JepsenStyle.Harness;

/// <summary>
/// One node's <c>pgraft run</c>, started inside its namespace (<c>ip netns exec</c> execs, so the process id is pgraft's
/// own). Its console output goes to <c>pgraft.log</c> in the node's folder; a restarted node appends to the same file.
/// </summary>
internal sealed class NodeProcess(NetworkLab lab, int node, string folder) : IAsyncDisposable
{
    private readonly StreamWriter _log = new(Path.Combine(folder, "pgraft.log"), append: true) { AutoFlush = true };
    private Process? _process;

    public string Folder => folder;

    public string ConfigFile => Path.Combine(folder, "pgraft.json");

    public string LogFile => Path.Combine(folder, "pgraft.log");

    /// <summary>PostgreSQL's data directory, as pgraft lays it out under its DataDir.</summary>
    public string PostgresDataDirectory => Path.Combine(folder, "data", "postgres");

    public int Pid => _process?.Id ?? throw new InvalidOperationException($"node{node} was never started");

    public bool Running => _process is { HasExited: false };

    public void Start()
    {
        if (Running)
        {
            throw new InvalidOperationException($"node{node} is already running");
        }

        _process?.Dispose();
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // pgraft reads every PGRAFT_* variable as a setting; the test run's own knobs must not reach it.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("PGRAFT_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        foreach (var argument in (string[])["netns", "exec", lab.NodeNamespace(node), "dotnet", Path.Combine(AppContext.BaseDirectory, "pgraft.dll"), "run", "--config", ConfigFile])
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start node{node}");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>kill -9 of pgraft alone: its guard then stops PostgreSQL (nothing else is killed by hand).</summary>
    public async Task KillAsync(CancellationToken cancellationToken)
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync(cancellationToken);
        }
    }

    /// <summary>Sends a signal by name (STOP, CONT, KILL) to pgraft.</summary>
    public Task SignalAsync(string signal, CancellationToken cancellationToken) =>
        ProcessRunner.RunAsync("kill", ["-" + signal, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], cancellationToken);

    /// <summary>The postmaster's pid from its postmaster.pid; null when PostgreSQL is not running.</summary>
    public int? PostmasterPid()
    {
        try
        {
            var first = File.ReadLines(Path.Combine(PostgresDataDirectory, "postmaster.pid")).FirstOrDefault();
            return int.TryParse(first, out var pid) && Directory.Exists($"/proc/{pid}") ? pid : null;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    /// <summary>PostgreSQL's own log, which pgraft keeps beside the data directory.</summary>
    public string PostgresLogFile => Path.Combine(folder, "data", "postgres.log");

    public IReadOnlyList<string> LogTail(int lines)
    {
        lock (_log)
        {
            return Tail(LogFile, lines);
        }
    }

    public static IReadOnlyList<string> Tail(string file, int lines)
    {
        try
        {
            return File.ReadLines(file).TakeLast(lines).ToList();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return [];
        }
    }

    public async ValueTask DisposeAsync()
    {
        // SIGKILL ends a stopped process too.
        await KillAsync(CancellationToken.None);

        _process?.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            try
            {
                _log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // The last lines of a killed process may arrive after the run closed its log.
            }
        }
    }
}

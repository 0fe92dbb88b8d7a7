using System.Diagnostics;
using System.Text;

namespace PgRaft.PgControl.Processes;

internal sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string OutputTail(int lines = 20)
    {
        var all = (StandardOutput + "\n" + StandardError).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }
}

/// <summary>Runs a short-lived tool (initdb, pg_basebackup, ...) to completion, killing it on cancellation.</summary>
internal static class ProcessRunner
{
    public static ProcessStartInfo CreateStartInfo(IReadOnlyList<string> argv, string? workingDirectory, IReadOnlyDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "/",
        };
        foreach (var argument in argv.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }
        // Nothing of the caller's libpq environment (PGPASSWORD, PGHOST, ...) leaks into the tools.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }
        info.Environment["LC_ALL"] = "C";
        info.Environment["LANG"] = "C";
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }
        }
        return info;
    }

    public static async Task<ProcessResult> RunAsync(
        IReadOnlyList<string> argv,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null,
        string? standardInput = null)
    {
        var info = CreateStartInfo(argv, workingDirectory, environment);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new PgControlException(PgControlError.CommandFailed, $"Could not start '{argv[0]}': {e.Message}.");
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput.AsMemory(), cancellationToken);
        }
        process.StandardInput.Close();

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            await process.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            throw new PgControlException(PgControlError.CommandTimedOut, $"'{Path.GetFileName(argv[0])}' did not finish within {timeout.TotalSeconds:0.#} s and was killed.");
        }
        // Drain the asynchronous readers.
        process.WaitForExit();
        string outText, errText;
        lock (stdout) { outText = stdout.ToString(); }
        lock (stderr) { errText = stderr.ToString(); }
        return new ProcessResult(process.ExitCode, outText, errText);
    }
}

using System.Diagnostics;

namespace PgRaft.Proxy.Tests.Fixtures;

internal sealed record ProcessResult(int ExitCode, string Output, string Error);

/// <summary>Runs a program to completion (killed after a deadline); as the postgres user when the tests run as root.</summary>
internal static class ProcessRunner
{
    public static bool IsRoot => Environment.UserName == "root";

    public static async Task<ProcessResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, bool asPostgres = false, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (asPostgres && IsRoot)
        {
            start.FileName = "runuser";
            start.ArgumentList.Add("-u");
            start.ArgumentList.Add("postgres");
            start.ArgumentList.Add("--");
            start.ArgumentList.Add(program);
        }
        else
        {
            start.FileName = program;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {timeout}.");
        }

        return new ProcessResult(process.ExitCode, await output, await error);
    }

    public static async Task<string> RunCheckedAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, bool asPostgres = false, IDictionary<string, string>? environment = null)
    {
        var result = await RunAsync(program, arguments, timeout, asPostgres, environment);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.Error}{result.Output}");
        }

        return result.Output;
    }
}

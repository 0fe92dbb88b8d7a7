using System.Diagnostics;

namespace PgRaft.JepsenStyle.Lab;

/// <summary>The result of one finished command.</summary>
internal sealed record ExitResult(int ExitCode, string Output, string Error)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>Runs short system commands (ip, iptables, kill) and waits for them.</summary>
internal static class ProcessRunner
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    /// <summary>Runs <paramref name="file"/>; throws with its error output when it exits non-zero.</summary>
    public static async Task<string> RunAsync(string file, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var list = arguments.ToList();
        var result = await TryRunAsync(file, list, cancellationToken);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"'{file} {string.Join(' ', list)}' exited {result.ExitCode}: {result.Error.Trim()}");
        }

        return result.Output;
    }

    public static async Task<ExitResult> TryRunAsync(string file, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Limit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"'{file} {string.Join(' ', start.ArgumentList)}' did not finish within {Limit.TotalSeconds} s");
        }

        return new ExitResult(process.ExitCode, await output, await error);
    }
}

using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PgRaft.PgControl.Processes;

namespace PgRaft.PgControl.Guard;

/// <summary>How a postmaster run ended.</summary>
/// <param name="ExitCode">The postmaster's exit code (128 + signal when killed); null when it never started.</param>
/// <param name="FenceReason">Why the guard stopped it (deadline, pipe-closed, command, signal), or null when it stopped by itself or on request.</param>
internal sealed record PostmasterExit(int? ExitCode, string? FenceReason);

/// <summary>The caller's side of one guard process and the postmaster it runs.</summary>
internal sealed class GuardedPostmaster : IAsyncDisposable
{
    private readonly Process _guard;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource<int> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<PostmasterExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _guardGone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private string? _fenceReason;
    private int? _exitCode;

    private GuardedPostmaster(Process guard, ILogger logger)
    {
        _guard = guard;
        _logger = logger;
    }

    public int GuardPid => _guard.Id;

    /// <summary>The postmaster's pid once the guard launched it.</summary>
    public Task<int> Started => _started.Task;

    public int? PostmasterPid => _started.Task.IsCompletedSuccessfully ? _started.Task.Result : null;

    public Task<PostmasterExit> Exited => _exited.Task;

    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>Starts the guard and tells it to launch the postmaster, with a lease or (lease null) none.</summary>
    public static async Task<GuardedPostmaster> LaunchAsync(
        IReadOnlyList<string> guardCommand,
        IReadOnlyList<string> postmasterCommand,
        TimeSpan killAfter,
        Func<TimeSpan?> leaseRemaining,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        if (guardCommand.Count == 0)
        {
            throw new PgControlException(PgControlError.InvalidArgument, "No guard command configured: set it to the program that runs 'pgraft guard'.");
        }
        var argv = new List<string>(guardCommand)
        {
            "--kill-after-ms",
            ((long)killAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
            "--",
        };
        argv.AddRange(postmasterCommand);
        var info = ProcessRunner.CreateStartInfo(argv, "/", null);
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            throw new PgControlException(PgControlError.StartFailed, $"Could not start the guard '{guardCommand[0]}': {e.Message}.");
        }
        var guarded = new GuardedPostmaster(process, logger);
        _ = Task.Run(guarded.ReadOutputAsync, CancellationToken.None);
        _ = Task.Run(guarded.ReadErrorsAsync, CancellationToken.None);
        var lease = leaseRemaining();
        if (lease is { } remaining)
        {
            await guarded.SendAsync(GuardProtocol.LeaseLine(remaining), cancellationToken);
        }
        else
        {
            await guarded.SendAsync(GuardProtocol.Open, cancellationToken);
        }
        return guarded;
    }

    /// <summary>Moves the deadline to now + remaining (as the guard's clock reads it on receipt).</summary>
    public async ValueTask<bool> RenewLeaseAsync(TimeSpan remaining, CancellationToken cancellationToken) =>
        await SendAsync(GuardProtocol.LeaseLine(remaining), cancellationToken);

    public ValueTask<bool> OpenAsync(CancellationToken cancellationToken) => SendAsync(GuardProtocol.Open, cancellationToken);

    public ValueTask<bool> FenceAsync(CancellationToken cancellationToken) => SendAsync(GuardProtocol.Fence, cancellationToken);

    private async ValueTask<bool> SendAsync(string line, CancellationToken cancellationToken)
    {
        if (HasExited)
        {
            return false;
        }
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await _guard.StandardInput.WriteLineAsync(line.AsMemory(), cancellationToken);
            await _guard.StandardInput.FlushAsync(cancellationToken);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadOutputAsync()
    {
        try
        {
            while (await _guard.StandardOutput.ReadLineAsync() is { } line)
            {
                var (verb, argument) = GuardProtocol.Split(line);
                switch (verb)
                {
                    case GuardProtocol.Started when int.TryParse(argument, CultureInfo.InvariantCulture, out var pid):
                        _started.TrySetResult(pid);
                        break;
                    case GuardProtocol.Fencing:
                        _fenceReason = argument;
                        LogMessages.GuardFencing(_logger, argument ?? "?");
                        break;
                    case GuardProtocol.Exited when int.TryParse(argument, CultureInfo.InvariantCulture, out var code):
                        // The guard says so only once the postmaster and everything left of its process group are
                        // gone, so the data directory is free now; the guard's own exit can take tens of milliseconds.
                        _exitCode = code;
                        _exited.TrySetResult(new PostmasterExit(_started.Task.IsCompleted ? code : null, _fenceReason));
                        break;
                    default:
                        break;
                }
            }
            await _guard.WaitForExitAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The guard is gone; its exit is reported below.
        }
        var exit = new PostmasterExit(_started.Task.IsCompleted ? _exitCode ?? SafeExitCode() : null, _fenceReason);
        _started.TrySetException(new PgControlException(PgControlError.StartFailed, "The guard exited before it launched the postmaster."));
        _ = _started.Task.Exception; // observed
        _exited.TrySetResult(exit);
        _guardGone.TrySetResult();
    }

    private int? SafeExitCode()
    {
        try
        {
            return _guard.HasExited ? _guard.ExitCode : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private async Task ReadErrorsAsync()
    {
        try
        {
            while (await _guard.StandardError.ReadLineAsync() is { } line)
            {
                LogMessages.GuardStderr(_logger, line);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The guard is gone.
        }
    }

    /// <summary>Closing the pipe fences at once; waits for the guard to go, then kills it if it did not.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            _guard.StandardInput.Close();
        }
        catch (IOException)
        {
            // Already closed.
        }
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _guardGone.Task.WaitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            try
            {
                _guard.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Gone.
            }
        }
        _guard.Dispose();
        _writeLock.Dispose();
    }
}

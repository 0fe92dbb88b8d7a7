using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using PgRaft.PgControl.Processes;

namespace PgRaft.PgControl.Guard;

/// <summary>
/// The fencing guard (DESIGN §7): a small process between pgraft and the postmaster. It launches the
/// postmaster when told to, holds the lease deadline it is fed over stdin, and stops the postmaster
/// (SIGQUIT, then SIGKILL to its process group) when the deadline passes unrenewed, when told to, or at
/// once when stdin closes because pgraft died. It runs on dedicated threads, not the thread pool, so a
/// starved pool cannot delay a fence, and the thread that forks the postmaster lives as long as the guard
/// (a parent-death signal fires when the forking thread ends, not only the process).
/// Usage: <c>guard [--kill-after-ms N] -- &lt;postmaster command...&gt;</c>.
/// </summary>
internal sealed class PostgresGuard
{
    private readonly object _gate = new();
    private readonly ManualResetEventSlim _wakeup = new(false);
    private readonly TextWriter _output;
    private readonly IReadOnlyList<string> _command;
    private readonly TimeSpan _killAfter;
    private bool _launchRequested;
    private bool _open;
    private long _deadline = long.MaxValue; // Stopwatch timestamp
    private string? _fenceReason;
    private int _postmasterPid;
    private bool _postmasterExited;
    private int _exitCode;

    private PostgresGuard(IReadOnlyList<string> command, TimeSpan killAfter, TextWriter output)
    {
        _command = command;
        _killAfter = killAfter;
        _output = output;
    }

    /// <summary>Entry point for <c>pgraft guard</c>: returns the postmaster's exit code (0 when it never started).</summary>
    public static Task<int> RunAsync(string[] args, CancellationToken cancellationToken) =>
        RunAsync(args, Console.In, Console.Out, cancellationToken);

    internal static async Task<int> RunAsync(string[] args, TextReader input, TextWriter output, CancellationToken cancellationToken)
    {
        var (command, killAfter) = ParseArguments(args);
        var guard = new PostgresGuard(command, killAfter, output);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; guard.RequestFence(GuardProtocol.ReasonSignal); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; guard.RequestFence(GuardProtocol.ReasonSignal); });
        using var registration = cancellationToken.Register(() => guard.RequestFence(GuardProtocol.ReasonSignal));
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = new Thread(() => guard.ReadCommands(input)) { IsBackground = true, Name = "guard-stdin" };
        var supervisor = new Thread(() => done.TrySetResult(guard.Supervise())) { IsBackground = false, Name = "guard-postmaster" };
        reader.Start();
        supervisor.Start();
        return await done.Task;
    }

    internal static (IReadOnlyList<string> Command, TimeSpan KillAfter) ParseArguments(string[] args)
    {
        var killAfter = TimeSpan.FromMilliseconds(500);
        var index = 0;
        while (index < args.Length && args[index] != "--")
        {
            if (args[index] == "--kill-after-ms" && index + 1 < args.Length
                && int.TryParse(args[index + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
            {
                killAfter = TimeSpan.FromMilliseconds(ms);
                index += 2;
                continue;
            }
            throw new ArgumentException($"guard: unknown argument '{args[index]}'. Usage: guard [--kill-after-ms N] -- <postmaster command...>");
        }
        if (index >= args.Length - 1)
        {
            throw new ArgumentException("guard: no postmaster command after '--'. Usage: guard [--kill-after-ms N] -- <postmaster command...>");
        }
        return (args[(index + 1)..], killAfter);
    }

    private void ReadCommands(TextReader input)
    {
        while (true)
        {
            string? line;
            try
            {
                line = input.ReadLine();
            }
            catch (IOException)
            {
                line = null;
            }
            if (line is null)
            {
                RequestFence(GuardProtocol.ReasonPipeClosed);
                return;
            }
            var (verb, argument) = GuardProtocol.Split(line);
            lock (_gate)
            {
                switch (verb)
                {
                    case GuardProtocol.Open:
                        _open = true;
                        _deadline = long.MaxValue;
                        _launchRequested = true;
                        break;
                    case GuardProtocol.Lease when GuardProtocol.LeaseDeadline(argument, Stopwatch.GetTimestamp()) is { } deadline:
                        _open = false;
                        _deadline = deadline;
                        _launchRequested = true;
                        break;
                    case GuardProtocol.Fence:
                        _fenceReason ??= GuardProtocol.ReasonCommand;
                        break;
                    case "":
                        break;
                    default:
                        Console.Error.WriteLine($"guard: ignoring unknown command '{verb}'");
                        break;
                }
            }
            _wakeup.Set();
        }
    }

    private void RequestFence(string reason)
    {
        lock (_gate)
        {
            _fenceReason ??= reason;
        }
        _wakeup.Set();
    }

    /// <summary>Runs on the dedicated thread that also forks the postmaster; returns when the postmaster is gone.</summary>
    private int Supervise()
    {
        Process? postmaster = null;
        long fenceStarted = 0;
        var killed = false;
        while (true)
        {
            _wakeup.Reset();
            string? fenceReason;
            bool launch;
            long deadline;
            lock (_gate)
            {
                fenceReason = _fenceReason;
                launch = _launchRequested;
                deadline = _open ? long.MaxValue : _deadline;
                if (fenceReason is null && postmaster is not null && !_open && Stopwatch.GetTimestamp() >= deadline)
                {
                    fenceReason = _fenceReason = GuardProtocol.ReasonDeadline;
                }
            }
            if (postmaster is null)
            {
                if (fenceReason is not null)
                {
                    return 0; // Fenced before anything ran.
                }
                if (launch)
                {
                    if (!_open && Stopwatch.GetTimestamp() >= deadline)
                    {
                        WriteLine($"{GuardProtocol.Fencing} {GuardProtocol.ReasonDeadline}");
                        return 0;
                    }
                    postmaster = Launch();
                    if (postmaster is null)
                    {
                        return 127;
                    }
                    continue;
                }
                _wakeup.Wait();
                continue;
            }

            lock (_gate)
            {
                if (_postmasterExited)
                {
                    // Take down anything of the postmaster's group that outlived it before saying it is gone:
                    // the caller may start a new postmaster on the same data directory as soon as it reads the line.
                    if (NativeMethods.KillGroup(_postmasterPid, NativeMethods.SIGKILL))
                    {
                        WaitUntilGroupGone(_postmasterPid, TimeSpan.FromSeconds(2));
                    }
                    WriteLine($"{GuardProtocol.Exited} {_exitCode}");
                    return _exitCode;
                }
            }

            TimeSpan wait;
            if (fenceReason is not null)
            {
                if (fenceStarted == 0)
                {
                    fenceStarted = Stopwatch.GetTimestamp();
                    WriteLine($"{GuardProtocol.Fencing} {fenceReason}");
                    NativeMethods.Kill(_postmasterPid, NativeMethods.SIGQUIT);
                }
                var sinceFence = Stopwatch.GetElapsedTime(fenceStarted);
                if (!killed && sinceFence >= _killAfter)
                {
                    killed = true;
                    NativeMethods.KillGroup(_postmasterPid, NativeMethods.SIGKILL);
                    NativeMethods.Kill(_postmasterPid, NativeMethods.SIGKILL);
                }
                wait = killed ? TimeSpan.FromMilliseconds(100) : _killAfter - sinceFence;
            }
            else if (deadline == long.MaxValue)
            {
                wait = Timeout.InfiniteTimeSpan;
            }
            else
            {
                var remainingTicks = deadline - Stopwatch.GetTimestamp();
                wait = TimeSpan.FromSeconds(Math.Max(0, remainingTicks) / (double)Stopwatch.Frequency);
            }
            _wakeup.Wait(ClampWait(wait));
        }
    }

    /// <summary>
    /// A wait for the supervisor: a deadline already past is no wait at all, but "no deadline" (an open guard, as on a
    /// standby) must stay infinite. Timeout.InfiniteTimeSpan is -1 ms, so clamping it to zero spun a core per standby.
    /// </summary>
    internal static TimeSpan ClampWait(TimeSpan wait) =>
        wait == Timeout.InfiniteTimeSpan ? Timeout.InfiniteTimeSpan : wait < TimeSpan.Zero ? TimeSpan.Zero : wait;

    /// <summary>Stragglers that outlived the postmaster hold its shared memory until they are reaped.</summary>
    private static void WaitUntilGroupGone(int processGroup, TimeSpan limit)
    {
        var started = Stopwatch.GetTimestamp();
        while (NativeMethods.KillGroup(processGroup, 0) && Stopwatch.GetElapsedTime(started) < limit)
        {
            Thread.Sleep(5);
        }
    }

    private Process? Launch()
    {
        var info = new ProcessStartInfo(_command[0]) { UseShellExecute = false };
        foreach (var argument in _command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.Exited += (_, _) =>
        {
            lock (_gate)
            {
                _postmasterExited = true;
                _exitCode = process.ExitCode;
            }
            _wakeup.Set();
        };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"guard: could not start '{_command[0]}': {e.Message}");
            WriteLine($"{GuardProtocol.Exited} 127");
            return null;
        }
        lock (_gate)
        {
            _postmasterPid = process.Id;
        }
        WriteLine($"{GuardProtocol.Started} {process.Id}");
        return process;
    }

    private void WriteLine(string line)
    {
        try
        {
            lock (_output)
            {
                _output.WriteLine(line);
                _output.Flush();
            }
        }
        catch (IOException)
        {
            // pgraft is gone; the guard carries on fencing regardless.
        }
    }
}

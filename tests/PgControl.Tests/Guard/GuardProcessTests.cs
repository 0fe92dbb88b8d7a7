using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using PgRaft.PgControl.Guard;
using PgRaft.PgControl.Processes;
using FsCheck;
using PgRaft.PgControl.Tests.Support;

namespace PgRaft.PgControl.Tests.Guard;

/// <summary>The guard as a real process, supervising a stand-in command instead of a postmaster.</summary>
public sealed class GuardProcessTests
{
    private static Task<GuardedPostmaster> LaunchAsync(IReadOnlyList<string> command, TimeSpan? lease, TimeSpan? killAfter = null) =>
        GuardedPostmaster.LaunchAsync(TestEnvironment.GuardCommand, command, killAfter ?? TimeSpan.FromMilliseconds(300), () => lease, NullLogger.Instance, CancellationToken.None);

    [Fact]
    public async Task Closing_the_pipe_stops_the_child_at_once()
    {
        var guarded = await LaunchAsync(["sleep", "60"], lease: null);
        var pid = await guarded.Started.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(NativeMethods.IsAlive(pid));
        var clock = Stopwatch.StartNew();
        await guarded.DisposeAsync();
        var exit = await guarded.Exited.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(GuardProtocol.ReasonPipeClosed, exit.FenceReason);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.False(IsRunningProcess(pid));
    }

    [Fact]
    public async Task An_open_guard_sleeps_instead_of_spinning()
    {
        // No lease (a standby's guard): the supervisor waits for news with no deadline. It once clamped that infinite
        // wait to zero and spun a core per standby; an idle guard must use next to no CPU.
        var guarded = await LaunchAsync(["sleep", "60"], lease: null);
        try
        {
            await guarded.Started.WaitAsync(TimeSpan.FromSeconds(20));
            await Task.Delay(500); // past the guard's own start-up work
            var before = CpuTime(guarded.GuardPid);
            await Task.Delay(2000);
            var used = CpuTime(guarded.GuardPid) - before;
            Assert.True(used < TimeSpan.FromMilliseconds(200), $"an idle guard used {used.TotalMilliseconds:F0} ms of CPU in 2 s");
        }
        finally
        {
            await guarded.DisposeAsync();
        }
    }

    [Fact]
    public void The_supervisors_wait_keeps_no_deadline_infinite_and_a_past_one_zero()
    {
        Assert.Equal(Timeout.InfiniteTimeSpan, PostgresGuard.ClampWait(Timeout.InfiniteTimeSpan));
        Assert.Equal(TimeSpan.Zero, PostgresGuard.ClampWait(TimeSpan.FromMilliseconds(-5)));
        Assert.Equal(TimeSpan.FromMilliseconds(40), PostgresGuard.ClampWait(TimeSpan.FromMilliseconds(40)));
    }

    /// <summary>utime + stime of a process, from /proc (clock ticks of 10 ms).</summary>
    private static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return TimeSpan.FromMilliseconds((long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture)) * 10);
    }

    [Fact]
    public async Task A_deadline_left_to_pass_stops_the_child_and_renewals_keep_it_running()
    {
        // The first lease covers the guard's own start (a lease counts from when it was sent).
        var guarded = await LaunchAsync(["sleep", "60"], lease: TimeSpan.FromSeconds(20));
        try
        {
            var pid = await guarded.Started.WaitAsync(TimeSpan.FromSeconds(20));
            // Leases long enough that a loaded machine's scheduling delays cannot let one lapse between renewals.
            for (var i = 0; i < 20; i++)
            {
                await Task.Delay(100);
                Assert.True(await guarded.RenewLeaseAsync(TimeSpan.FromMilliseconds(1000), CancellationToken.None));
            }
            Assert.False(guarded.HasExited); // 2 s of renewals outlived the 1 s lease
            var clock = Stopwatch.StartNew();
            var exit = await guarded.Exited.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(GuardProtocol.ReasonDeadline, exit.FenceReason);
            Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));
            Assert.False(IsRunningProcess(pid));
        }
        finally
        {
            await guarded.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_child_ignoring_SIGQUIT_is_killed_after_the_grace()
    {
        var guarded = await LaunchAsync(["/bin/sh", "-c", "trap '' QUIT; exec sleep 60"], lease: TimeSpan.FromSeconds(20), killAfter: TimeSpan.FromMilliseconds(300));
        try
        {
            var pid = await guarded.Started.WaitAsync(TimeSpan.FromSeconds(20));
            await Task.Delay(200); // let the shell set its trap and exec
            Assert.True(await guarded.RenewLeaseAsync(TimeSpan.FromMilliseconds(100), CancellationToken.None));
            var exit = await guarded.Exited.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(GuardProtocol.ReasonDeadline, exit.FenceReason);
            Assert.Equal(128 + NativeMethods.SIGKILL, exit.ExitCode);
            Assert.False(IsRunningProcess(pid));
        }
        finally
        {
            await guarded.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_expired_first_lease_never_launches_the_child()
    {
        var marker = Path.Combine(Path.GetTempPath(), "pgc-never-" + Guid.NewGuid().ToString("N"));
        var guarded = await LaunchAsync(["/bin/sh", "-c", $"touch {marker}"], lease: TimeSpan.Zero);
        try
        {
            var exit = await guarded.Exited.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Null(exit.ExitCode);
            Assert.False(guarded.Started.IsCompletedSuccessfully);
            Assert.False(File.Exists(marker));
        }
        finally
        {
            await guarded.DisposeAsync();
            File.Delete(marker);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("--")]
    [InlineData("--kill-after-ms 5")]
    [InlineData("--bogus -- sleep")]
    [InlineData("--kill-after-ms x -- sleep")]
    public void Guard_arguments_without_a_command_are_refused(string args) =>
        Assert.Throws<ArgumentException>(() => PostgresGuard.ParseArguments(args.Split(' ', StringSplitOptions.RemoveEmptyEntries)));

    [Fact]
    public void Guard_arguments_parse()
    {
        var (command, killAfter) = PostgresGuard.ParseArguments(["--kill-after-ms", "750", "--", "postgres", "-D", "/x"]);
        Assert.Equal(["postgres", "-D", "/x"], command);
        Assert.Equal(TimeSpan.FromMilliseconds(750), killAfter);
    }

    /// <summary>Alive and not a zombie.</summary>
    internal static bool IsRunningProcess(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state != 'Z' && state != 'X';
        }
        catch (IOException)
        {
            return false;
        }
    }
}

public sealed class GuardProtocolTests
{
    [Fact]
    public void A_lease_never_ends_later_than_now_plus_its_length() =>
        FsCheck.Fluent.Prop.ForAll(
            FsCheck.Fluent.ArbMap.Default.ArbFor<uint>(), FsCheck.Fluent.ArbMap.Default.ArbFor<long>(), (ms, sentOffset) =>
            {
                var now = 1_000_000_000_000L;
                var deadline = GuardProtocol.LeaseDeadline($"{ms} {now + (sentOffset % 20_000_000_000L)}", now);
                return deadline is { } d && d <= now + (long)(ms * (Stopwatch.Frequency / 1000.0));
            }).QuickCheckThrowOnFailure();

    [Fact]
    public void A_lease_sent_earlier_counts_from_when_it_was_sent()
    {
        var now = 50 * Stopwatch.Frequency;
        var sent = now - Stopwatch.Frequency / 10; // 100 ms in the pipe
        Assert.Equal(sent + Stopwatch.Frequency, GuardProtocol.LeaseDeadline($"1000 {sent}", now));
        Assert.Equal(now + Stopwatch.Frequency, GuardProtocol.LeaseDeadline("1000", now));
        Assert.Equal(now + Stopwatch.Frequency, GuardProtocol.LeaseDeadline($"1000 {now + 5}", now)); // implausible: from the future
        Assert.Null(GuardProtocol.LeaseDeadline("soon", now));
        Assert.Null(GuardProtocol.LeaseDeadline("-5", now));
    }
}

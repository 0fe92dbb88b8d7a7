using System.Diagnostics;
using PgRaft.PgControl.Guard;
using PgRaft.PgControl.Instance;
using PgRaft.PgControl.Processes;
using PgRaft.PgControl.Tests.Support;
using Xunit.Abstractions;

namespace PgRaft.PgControl.Tests.Guard;

/// <summary>DESIGN §7: whatever happens to the supervising process, a primary loses clients by its deadline.</summary>
public sealed class FencingTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(800);

    [Fact]
    public async Task A_lease_left_to_pass_stops_the_primary_by_its_deadline()
    {
        using var directory = new TempDirectory("deadline");
        await using var node = await TestNode.FromTemplateAsync(directory, "leased", noLeaseRequired: false);
        // A long first lease so a slow start on a busy machine cannot use it up; then a short one, left to pass.
        await node.Instance.StartAsync(ServerRole.Primary, TimeSpan.FromSeconds(60), cancellationToken: CancellationToken.None);
        var lease = TimeSpan.FromMilliseconds(1500);
        var clock = Stopwatch.StartNew();
        Assert.True(await node.Instance.RenewLeaseAsync(lease, CancellationToken.None));
        Assert.True(TestEnvironment.CanConnect(node.Port));

        var downAfter = await WaitUntilUnreachableAsync(node.Port, clock, lease + TimeSpan.FromSeconds(10));
        output.WriteLine($"lease {lease.TotalMilliseconds} ms, not renewed; unreachable after {downAfter.TotalMilliseconds:0} ms");
        Assert.True(downAfter <= lease + Slack, $"still reachable {downAfter} after start; lease {lease}");
        var exit = await node.Instance.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(GuardProtocol.ReasonDeadline, exit.FenceReason);
    }

    [Fact]
    public async Task Without_a_lease_a_primary_does_not_start_unless_told()
    {
        using var directory = new TempDirectory("nolease");
        await using var node = await TestNode.FromTemplateAsync(directory, "unleased", noLeaseRequired: false);
        var error = await Assert.ThrowsAsync<PgControlException>(() => node.Instance.StartAsync(ServerRole.Primary, cancellationToken: CancellationToken.None));
        Assert.Equal(PgControlError.LeaseRequired, error.Error);
        Assert.False(TestEnvironment.CanConnect(node.Port));

        // A standby needs none, but its promotion does.
        await File.WriteAllTextAsync(Path.Combine(node.DataDirectory, "standby.signal"), "");
        await node.Instance.StartAsync(ServerRole.Standby, cancellationToken: CancellationToken.None);
        var promote = await Assert.ThrowsAsync<PgControlException>(() => node.Instance.PromoteAsync([], CancellationToken.None));
        Assert.Equal(PgControlError.LeaseRequired, promote.Error);
        Assert.True((await node.Instance.ProbeAsync(CancellationToken.None)).InRecovery);
    }

    [Fact]
    public async Task SIGSTOP_of_the_supervisor_leaves_PostgreSQL_stopped_by_the_deadline()
    {
        using var directory = new TempDirectory("sigstop");
        var lease = TimeSpan.FromMilliseconds(1500);
        await using var supervised = await SupervisedPrimary.StartAsync(directory, lease);
        await Task.Delay(lease + TimeSpan.FromMilliseconds(500));
        Assert.True(TestEnvironment.CanConnect(supervised.Port), "renewals should keep the primary up past one lease");

        var clock = Stopwatch.StartNew();
        Assert.True(NativeMethods.Kill(supervised.SupervisorPid, NativeMethods.SIGSTOP));
        var downAfter = await WaitUntilUnreachableAsync(supervised.Port, clock, TimeSpan.FromSeconds(10));
        output.WriteLine($"lease {lease.TotalMilliseconds} ms renewed every 200 ms; unreachable {downAfter.TotalMilliseconds:0} ms after SIGSTOP of the supervisor");
        Assert.True(downAfter <= lease + Slack, $"still reachable {downAfter} after SIGSTOP; lease {lease}");
        await TestEnvironment.EventuallyAsync(() => Task.FromResult(!GuardProcessTests.IsRunningProcess(supervised.PostmasterPid)), TimeSpan.FromSeconds(2), "the postmaster to exit");
    }

    [Fact]
    public async Task Kill_9_of_the_supervisor_stops_PostgreSQL_at_once()
    {
        using var directory = new TempDirectory("kill9sup");
        var lease = TimeSpan.FromSeconds(4);
        await using var supervised = await SupervisedPrimary.StartAsync(directory, lease);
        Assert.True(TestEnvironment.CanConnect(supervised.Port));

        var clock = Stopwatch.StartNew();
        Assert.True(NativeMethods.Kill(supervised.SupervisorPid, NativeMethods.SIGKILL));
        var downAfter = await WaitUntilUnreachableAsync(supervised.Port, clock, TimeSpan.FromSeconds(10));
        output.WriteLine($"unreachable {downAfter.TotalMilliseconds:0} ms after kill -9 of the supervisor (lease {lease.TotalMilliseconds} ms)");
        // Well before the (renewed) lease could run out: the closed pipe fenced it.
        Assert.True(downAfter <= TimeSpan.FromSeconds(2), $"still reachable {downAfter} after kill -9 of the supervisor");
        await TestEnvironment.EventuallyAsync(() => Task.FromResult(!GuardProcessTests.IsRunningProcess(supervised.PostmasterPid)), TimeSpan.FromSeconds(2), "the postmaster to exit");
    }

    [Fact]
    public async Task Kill_9_of_the_guard_itself_takes_the_postmaster_down_by_its_parent_death_signal()
    {
        using var directory = new TempDirectory("kill9guard");
        await using var node = await TestNode.FromTemplateAsync(directory, "orphaned");
        await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: CancellationToken.None);
        var postmasterPid = node.Instance.PostmasterPid!.Value;
        await Task.Delay(500); // the guard's forking thread must outlive the start: a thread ending would fire the signal too
        Assert.True(GuardProcessTests.IsRunningProcess(postmasterPid));

        var clock = Stopwatch.StartNew();
        Assert.True(NativeMethods.Kill(node.Instance.GuardPid!.Value, NativeMethods.SIGKILL));
        var downAfter = await WaitUntilUnreachableAsync(node.Port, clock, TimeSpan.FromSeconds(10));
        output.WriteLine($"unreachable {downAfter.TotalMilliseconds:0} ms after kill -9 of the guard");
        Assert.True(downAfter <= TimeSpan.FromSeconds(2), $"still reachable {downAfter} after kill -9 of the guard");
        await TestEnvironment.EventuallyAsync(() => Task.FromResult(!GuardProcessTests.IsRunningProcess(postmasterPid)), TimeSpan.FromSeconds(2), "the postmaster to die");
        Assert.False((await node.Instance.ProbeAsync(CancellationToken.None)).Running);
    }

    private static async Task<TimeSpan> WaitUntilUnreachableAsync(int port, Stopwatch clock, TimeSpan limit)
    {
        while (clock.Elapsed < limit)
        {
            if (!TestEnvironment.CanConnect(port))
            {
                return clock.Elapsed;
            }
            await Task.Delay(50);
        }
        Assert.Fail($"PostgreSQL on port {port} was still reachable after {limit}.");
        return limit;
    }

    /// <summary>A GuardHost process playing the keeper: it starts a primary with a lease and renews it every 200 ms.</summary>
    private sealed class SupervisedPrimary : IAsyncDisposable
    {
        private readonly Process _supervisor;
        private readonly string _dataDirectory;

        private SupervisedPrimary(Process supervisor, string dataDirectory, int port, int guardPid, int postmasterPid)
        {
            _supervisor = supervisor;
            _dataDirectory = dataDirectory;
            Port = port;
            GuardPid = guardPid;
            PostmasterPid = postmasterPid;
        }

        public int Port { get; }
        public int GuardPid { get; }
        public int PostmasterPid { get; }
        public int SupervisorPid => _supervisor.Id;

        public static async Task<SupervisedPrimary> StartAsync(TempDirectory directory, TimeSpan lease)
        {
            var passwords = directory.WritePasswordFiles();
            var dataDirectory = Path.Combine(directory.Path, "data");
            await TestEnvironment.CopyTemplateAsync(dataDirectory);
            var port = TestEnvironment.FreePort();
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in new[]
            {
                Path.Combine(AppContext.BaseDirectory, "PgRaft.PgControl.GuardHost.dll"), "supervise", dataDirectory, port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                TestEnvironment.BinDirectory, TestEnvironment.OsUser ?? "-", passwords.Super, passwords.Replication,
                ((int)lease.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture), "200",
            }.Concat(TestEnvironment.GuardCommand))
            {
                info.ArgumentList.Add(argument);
            }
            var process = Process.Start(info)!;
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                var parts = line?.Split(' ');
                if (parts is not { Length: 3 } || parts[0] != "ready")
                {
                    Assert.Fail($"The supervisor did not start PostgreSQL: {line} {await stderr.WaitAsync(TimeSpan.FromSeconds(5))}");
                }
                return new SupervisedPrimary(process, dataDirectory, port, int.Parse(parts![1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
            }
            catch
            {
                process.Kill(entireProcessTree: true);
                TestEnvironment.KillLeftovers(dataDirectory);
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            NativeMethods.Kill(_supervisor.Id, NativeMethods.SIGCONT);
            NativeMethods.Kill(_supervisor.Id, NativeMethods.SIGKILL);
            NativeMethods.Kill(GuardPid, NativeMethods.SIGKILL);
            TestEnvironment.KillLeftovers(_dataDirectory);
            if (GuardProcessTests.IsRunningProcess(PostmasterPid))
            {
                NativeMethods.KillGroup(PostmasterPid, NativeMethods.SIGKILL);
            }
            await _supervisor.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            _supervisor.Dispose();
        }
    }
}

using PgRaft.PgControl.Instance;
using PgRaft.PgControl.Processes;
using PgRaft.PgControl.Tests.Support;

namespace PgRaft.PgControl.Tests.Instance;

public sealed class LifecycleTests
{
    [Fact]
    public async Task Init_creates_a_checksummed_cluster_with_managed_files()
    {
        using var directory = new TempDirectory("init");
        await using var node = TestNode.Empty(directory, "fresh");
        await node.Instance.InitAsync(CancellationToken.None);

        var control = await node.Instance.ReadControlDataAsync(CancellationToken.None);
        Assert.True(control.DataChecksums);
        Assert.Equal("shut down", control.ClusterState);
        Assert.Contains("include_if_exists = 'postgresql.pgraft.conf'", await File.ReadAllTextAsync(Path.Combine(node.DataDirectory, "postgresql.conf")));
        var managed = await File.ReadAllTextAsync(Path.Combine(node.DataDirectory, "postgresql.pgraft.conf"));
        Assert.Contains($"port = '{node.Port}'", managed);
        var passFileMode = File.GetUnixFileMode(node.DataDirectory + ".pgpass");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, passFileMode);
        Assert.DoesNotContain(TestEnvironment.SuperPassword, managed);
    }

    [Fact]
    public async Task Start_probe_and_stop_in_every_mode()
    {
        using var directory = new TempDirectory("life");
        await using var node = await TestNode.FromTemplateAsync(directory, "solo");
        var instance = node.Instance;
        var systemIdentifier = (await instance.ReadControlDataAsync(CancellationToken.None)).SystemIdentifier;

        foreach (var mode in new[] { StopMode.Smart, StopMode.Fast, StopMode.Immediate })
        {
            await instance.StartAsync(ServerRole.Primary, cancellationToken: CancellationToken.None);
            var status = await instance.ProbeAsync(CancellationToken.None);
            Assert.True(status.Running);
            Assert.True(status.Accepting, status.Error);
            Assert.False(status.InRecovery);
            Assert.Equal(systemIdentifier, status.SystemIdentifier);
            Assert.Equal(1, status.Timeline);
            Assert.NotNull(status.FlushLsn);
            Assert.Equal(instance.PostmasterPid, status.PostmasterPid);
            Assert.True(TestEnvironment.CanConnect(node.Port));

            await instance.StopAsync(mode, CancellationToken.None);
            Assert.False(instance.IsRunning);
            Assert.False((await instance.ProbeAsync(CancellationToken.None)).Running);
            Assert.False(TestEnvironment.CanConnect(node.Port));
            var state = (await instance.ReadControlDataAsync(CancellationToken.None)).ClusterState;
            Assert.Equal(mode == StopMode.Immediate ? "in production" : "shut down", state);
        }
    }

    [Fact]
    public async Task Kill_9_of_the_postmaster_is_noticed_by_the_next_probe()
    {
        using var directory = new TempDirectory("kill9");
        await using var node = await TestNode.FromTemplateAsync(directory, "victim");
        var exited = new TaskCompletionSource<PgRaft.PgControl.Guard.PostmasterExit>();
        node.Instance.PostmasterExited += e => exited.TrySetResult(e);
        await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: CancellationToken.None);
        Assert.True((await node.Instance.ProbeAsync(CancellationToken.None)).Accepting);

        Assert.True(NativeMethods.Kill(node.Instance.PostmasterPid!.Value, NativeMethods.SIGKILL));
        await Task.Delay(100); // well inside one keeper probe interval (250 ms)

        var status = await node.Instance.ProbeAsync(CancellationToken.None);
        Assert.False(status.Running);
        var exit = await exited.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(128 + NativeMethods.SIGKILL, exit.ExitCode);
        Assert.Null(exit.FenceReason);

        // It starts again over the stale postmaster.pid the killed postmaster left.
        await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: CancellationToken.None);
        Assert.True((await node.Instance.ProbeAsync(CancellationToken.None)).Accepting);
    }

    [Fact]
    public async Task A_postmaster_pid_naming_a_live_unrelated_process_is_moved_aside()
    {
        using var directory = new TempDirectory("stale");
        await using var node = await TestNode.FromTemplateAsync(directory, "stale");
        var pidFile = Path.Combine(node.DataDirectory, "postmaster.pid");
        // Our own pid: alive, but not a postmaster of this data directory. PostgreSQL alone would refuse to start.
        await File.WriteAllTextAsync(pidFile, $"{Environment.ProcessId}\n{node.DataDirectory}\n1700000000\n{node.Port}\n\n127.0.0.1\n  1234   5678\nready   \n");
        await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: CancellationToken.None);

        Assert.True((await node.Instance.ProbeAsync(CancellationToken.None)).Accepting);
        Assert.Single(Directory.GetFiles(node.DataDirectory, "postmaster.pid.stale-*"));
    }

    [Fact]
    public async Task A_postmaster_left_running_outside_the_guard_is_stopped_before_start()
    {
        using var directory = new TempDirectory("orphan");
        await using var node = await TestNode.FromTemplateAsync(directory, "orphan");
        // As if an earlier pgraft died and its postmaster lost the parent-death signal: unfenced, still serving.
        var argv = new List<string> { "setsid" };
        if (TestEnvironment.IsRoot)
        {
            argv.AddRange(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]);
        }
        argv.AddRange([Path.Combine(TestEnvironment.BinDirectory, "postgres"), "-D", node.DataDirectory]);
        var info = new System.Diagnostics.ProcessStartInfo(argv[0]) { UseShellExecute = false, RedirectStandardError = true, WorkingDirectory = "/tmp" };
        argv.Skip(1).ToList().ForEach(info.ArgumentList.Add);
        using var orphan = System.Diagnostics.Process.Start(info)!;
        try
        {
            await TestEnvironment.EventuallyAsync(() => Task.FromResult(TestEnvironment.CanConnect(node.Port)), TimeSpan.FromSeconds(30), "the orphan postmaster to accept connections");

            await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: CancellationToken.None);

            Assert.True(orphan.WaitForExit(5000), "the orphan postmaster should have been stopped");
            Assert.NotEqual(orphan.Id, node.Instance.PostmasterPid);
            Assert.True((await node.Instance.ProbeAsync(CancellationToken.None)).Accepting);
        }
        finally
        {
            if (!orphan.HasExited)
            {
                orphan.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Demote_restarts_a_primary_as_a_standby()
    {
        using var directory = new TempDirectory("demote");
        await using var node = await TestNode.FromTemplateAsync(directory, "demoted");
        await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: CancellationToken.None);
        Assert.False((await node.Instance.ProbeAsync(CancellationToken.None)).InRecovery);

        await node.Instance.DemoteAsync(null, StopMode.Fast, CancellationToken.None);

        Assert.Equal(ServerRole.Standby, node.Instance.Role);
        Assert.True((await node.Instance.ProbeAsync(CancellationToken.None)).InRecovery);
        Assert.True(File.Exists(Path.Combine(node.DataDirectory, "standby.signal")));
        await Assert.ThrowsAsync<Npgsql.PostgresException>(() => TestEnvironment.ExecuteAsync(node.Port, "CREATE TABLE t (x int)"));
    }
}

using System.Diagnostics;
using System.Globalization;
using Npgsql;
using PgRaft.JepsenStyle.Harness;
using PgRaft.JepsenStyle.Lab;

namespace PgRaft.JepsenStyle;

/// <summary>
/// A standby's replication connection after its node was cut off for a while. Nothing fails while it is behind (the
/// other standby acknowledges every commit), so no other test sees it; it matters when that other standby fails next.
/// </summary>
public sealed class ReplicationRecoveryTests
{
    private static readonly TimeSpan Cut = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Kept silent through the cut, the connection resumed only at TCP's next retransmission, whose back-off doubles:
    /// 6.5 s after a 6.7 s cut, and about 10 s after this test's 15 s one. With replication timeouts both ends drop it
    /// during the cut and the standby connects again as soon as the network is back.
    /// </summary>
    [Fact]
    public async Task A_standby_cut_off_for_15_s_streams_again_within_5_s_of_the_heal()
    {
        RootRequirement.Ensure();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var cancellationToken = limit.Token;
        using var log = new RunLog();
        log.Line("=== a standby cut off for 15 s");
        await using var lab = await NetworkLab.CreateAsync(3, log.Line, cancellationToken);
        await using var cluster = await LabCluster.StartAsync(lab, log, cancellationToken);
        var primary = await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(90), streaming: true, cancellationToken);
        var standby = cluster.NodeNumbers.First(n => n != primary);
        var primaryConnection = cluster.DirectConnectionString(primary);
        await cluster.ScalarAsync<int>(primaryConnection, "create table if not exists replication_probe (at timestamptz not null default now())", cancellationToken);

        // Writes all along, so WAL keeps coming for the cut-off standby to miss (bounded by the test's own time).
        using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writing = WriteUntilStoppedAsync(cluster, primary, stopWriting.Token);

        var network = new NetworkFaults(lab);
        await network.IsolateAsync(standby, cancellationToken);
        log.Line($"node{standby} (standby) cut off for {Cut.TotalSeconds} s");
        await Task.Delay(Cut, cancellationToken);
        await network.HealAsync(cancellationToken);
        var healed = Stopwatch.StartNew();
        var target = await cluster.ScalarAsync<string>(primaryConnection, "select pg_current_wal_flush_lsn()::text", cancellationToken);
        log.Line($"healed; the primary has flushed up to {target}");

        var caughtUp = false;
        while (healed.Elapsed < TimeSpan.FromSeconds(30) && !caughtUp)
        {
            caughtUp = await cluster.ScalarAsync<bool>(
                primaryConnection,
                $"select coalesce(bool_or(flush_lsn >= '{target}'::pg_lsn), false) from pg_stat_replication where application_name = '{LabCluster.NodeId(standby)}' and state = 'streaming'",
                cancellationToken);
            if (!caughtUp)
            {
                await Task.Delay(100, cancellationToken);
            }
        }

        var took = healed.Elapsed;
        await stopWriting.CancelAsync();
        await writing;
        log.Line(caughtUp
            ? string.Create(CultureInfo.InvariantCulture, $"node{standby} had flushed {target} {took.TotalSeconds:F2} s after the heal")
            : $"node{standby} had not flushed {target} 30 s after the heal");
        Assert.True(caughtUp && took < TimeSpan.FromSeconds(5),
            string.Create(CultureInfo.InvariantCulture, $"node{standby} streamed again {(caughtUp ? $"{took.TotalSeconds:F2} s" : "not within 30 s")} after the heal; logs:\n{cluster.LogTails(30, 10)}"));
    }

    private static async Task WriteUntilStoppedAsync(LabCluster cluster, int primary, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await cluster.ScalarAsync<int>(cluster.DirectConnectionString(primary), "insert into replication_probe default values", stop);
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (NpgsqlException)
            {
                // A commit waiting for the cut-off standby times out or is cut: the next one goes on.
            }
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using Npgsql;
using PgRaft.JepsenStyle.Checking;
using PgRaft.JepsenStyle.Faults;
using PgRaft.JepsenStyle.Harness;
using PgRaft.JepsenStyle.Lab;
using PgRaft.JepsenStyle.Workload;
using PgRaft.Node.Cluster;

namespace PgRaft.JepsenStyle;

/// <summary>
/// One whole run: a lab and a three-node cluster, the workload and the /primary sampler running throughout, the faults
/// of a schedule one at a time (each healed, and the cluster healthy again, before the next), then convergence and the
/// checker. Returns the violations found; prints the per-fault table either way.
/// </summary>
internal sealed class JepsenRun
{
    private const int Nodes = 3;
    private const int Clients = 6;
    private const int MaxOperationsPerClient = 100_000;
    private const int FirstProbeClient = 100;
    private static readonly TimeSpan Healthy = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);

    public async Task<IReadOnlyList<string>> RunAsync(string title, IReadOnlyList<FaultPlan> schedule, CancellationToken cancellationToken)
    {
        RootRequirement.Ensure();
        using var log = new RunLog();
        log.Line($"=== {title}");
        log.Line($"schedule: {string.Join(", ", schedule)}");
        await using var lab = await NetworkLab.CreateAsync(Nodes, log.Line, cancellationToken);
        await using var cluster = await LabCluster.StartAsync(lab, log, cancellationToken);
        var violations = new List<string>();
        try
        {
            violations.AddRange(await RunScheduleAsync(cluster, log, schedule, cancellationToken));
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or NpgsqlException)
        {
            violations.Add($"the run broke off: {ex.GetType().Name}: {ex.Message}");
        }

        if (violations.Count > 0)
        {
            log.Line($"{violations.Count} violations; node logs:\n{cluster.LogTails(60, 20)}");
        }

        return violations;
    }

    private async Task<IReadOnlyList<string>> RunScheduleAsync(LabCluster cluster, RunLog log, IReadOnlyList<FaultPlan> schedule, CancellationToken cancellationToken)
    {
        var primary = await cluster.WaitUntilHealthyAsync(Healthy, streaming: true, cancellationToken);
        await cluster.ScalarAsync<int>(cluster.DirectConnectionString(primary), InsertWorkload.CreateTableSql, cancellationToken);
        await cluster.ScalarAsync<int>(cluster.DirectConnectionString(primary), "create table if not exists jepsen_barrier (token text not null)", cancellationToken);

        var operations = new OperationLog();
        await using var sampler = new PrimarySampler(cluster, log);
        await using var workload = new InsertWorkload(cluster, operations, log);
        sampler.Start();
        workload.Start(Clients, MaxOperationsPerClient);
        await Task.Delay(Quiet, cancellationToken);

        var nemesis = new NemesisSession(cluster, operations, log, workload.Clients);
        var faults = new List<FaultRecord>();
        var violations = new List<string>();
        for (var i = 0; i < schedule.Count; i++)
        {
            try
            {
                faults.Add(await nemesis.RunAsync(i + 1, FirstProbeClient + i, schedule[i], cancellationToken));
            }
            catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or NpgsqlException)
            {
                // No further faults; what was written so far is still checked.
                violations.Add($"fault {i + 1} ({schedule[i]}): {ex.GetType().Name}: {ex.Message}");
                break;
            }

            await Task.Delay(Quiet, cancellationToken);
        }

        await workload.StopAsync();
        var samples = await sampler.StopAsync();
        var final = await ConvergeAsync(cluster, log, cancellationToken);
        var histories = await HistoriesAsync(cluster, cancellationToken);
        var run = new RunObservations(operations.Snapshot(), workload.Clients.ToDictionary(c => c, workload.EntryOf), faults, samples, histories, final);
        violations.AddRange(Checker.Check(run));
        Report(log, run);
        await RunFiles.WriteAsync(cluster.Folder, run, cancellationToken);
        return violations;
    }

    /// <summary>
    /// Waits for a healthy cluster and for every node to have replayed a barrier row written after the workload stopped;
    /// then reads every copy. A failover in the middle (the barrier's commit or a read broken off) starts it again.
    /// </summary>
    private static async Task<FinalState> ConvergeAsync(LabCluster cluster, RunLog log, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await ConvergeOnceAsync(cluster, log, cancellationToken);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException && clock.Elapsed < 2 * Healthy)
            {
                log.Line($"convergence interrupted ({ex.GetType().Name}: {ex.Message}); starting it again");
                await Task.Delay(1000, cancellationToken);
            }
        }
    }

    private static async Task<FinalState> ConvergeOnceAsync(LabCluster cluster, RunLog log, CancellationToken cancellationToken)
    {
        var primary = await cluster.WaitUntilHealthyAsync(Healthy, streaming: true, cancellationToken);
        var token = Guid.NewGuid().ToString("N");
        await cluster.ScalarAsync<int>(cluster.DirectConnectionString(primary), $"insert into jepsen_barrier values ('{token}')", cancellationToken);
        var clock = Stopwatch.StartNew();
        foreach (var n in cluster.NodeNumbers)
        {
            while (await cluster.ScalarAsync<long>(cluster.DirectConnectionString(n), $"select count(*) from jepsen_barrier where token = '{token}'", cancellationToken) == 0)
            {
                if (clock.Elapsed > Healthy)
                {
                    throw new TimeoutException($"node{n} did not replay the barrier row within {Healthy.TotalSeconds} s");
                }

                await Task.Delay(100, cancellationToken);
            }
        }

        var rows = new Dictionary<int, IReadOnlyList<Key>>();
        foreach (var n in cluster.NodeNumbers)
        {
            rows[n] = await RowsAsync(cluster.DirectConnectionString(n, commandTimeoutSeconds: 60), cancellationToken);
        }

        log.Line($"converged: node{primary} primary, every node replayed the barrier after {clock.Elapsed.TotalSeconds:F1} s; rows per node: {string.Join(", ", rows.Select(r => $"node{r.Key} {r.Value.Count}"))}");
        return new FinalState(primary, rows);
    }

    private static async Task<IReadOnlyList<Key>> RowsAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var select = new NpgsqlCommand($"select client, seq from {InsertWorkload.Table} order by client, seq", connection);
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        var keys = new List<Key>();
        while (await reader.ReadAsync(cancellationToken))
        {
            keys.Add(new Key(reader.GetInt32(0), reader.GetInt32(1)));
        }

        return keys;
    }

    /// <summary>Every node's history, once all nodes answer with the same number of entries (or after 10 s, as they are).</summary>
    private static async Task<IReadOnlyDictionary<int, IReadOnlyList<HistoryEntry>>> HistoriesAsync(LabCluster cluster, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var histories = new Dictionary<int, IReadOnlyList<HistoryEntry>>();
            foreach (var n in cluster.NodeNumbers)
            {
                if (await cluster.Api.StateAsync(n, cancellationToken) is { } state)
                {
                    histories[n] = state.History;
                }
            }

            if ((histories.Count == cluster.Nodes && histories.Values.Select(h => h.Count).Distinct().Count() == 1) || clock.Elapsed > TimeSpan.FromSeconds(10))
            {
                return histories;
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    private static void Report(RunLog log, RunObservations run)
    {
        var costs = FaultSummary.Costs(run);
        var counts = run.Operations.GroupBy(o => o.Outcome).ToDictionary(g => g.Key, g => g.Count());
        log.Line(string.Create(CultureInfo.InvariantCulture,
            $"operations: {run.Operations.Count} ({counts.GetValueOrDefault(Outcome.Ok)} ok, {counts.GetValueOrDefault(Outcome.Failed)} failed, {counts.GetValueOrDefault(Outcome.Unknown)} unknown); " +
            $"/primary samples: {run.Samples.Count}; history: {string.Join(" ", run.Histories.Values.FirstOrDefault()?.Select(e => $"{e.Generation}:{e.NewPrimary}({e.Reason})") ?? [])}"));
        log.Line("per fault (outage: longest time without any acknowledged write; back after heal: until every client wrote again; fenced: until the old primary's direct client lost it):\n" + FaultSummary.Table(costs));
    }
}

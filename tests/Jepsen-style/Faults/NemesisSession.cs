using System.Diagnostics;
using PgRaft.JepsenStyle.Checking;
using PgRaft.JepsenStyle.Harness;
using PgRaft.JepsenStyle.Lab;
using PgRaft.JepsenStyle.Workload;

namespace PgRaft.JepsenStyle.Faults;

/// <summary>
/// Runs one fault at a time on a healthy cluster: a client writing straight to the primary's PostgreSQL (the probe),
/// the fault, the heal after the planned duration, then the wait until every workload client writes again and the
/// cluster is healthy with streaming standbys.
/// </summary>
internal sealed class NemesisSession(LabCluster cluster, OperationLog operations, RunLog log, IReadOnlyList<int> workloadClients)
{
    private static readonly TimeSpan Healthy = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan RecoveryWait = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ProbePause = TimeSpan.FromMilliseconds(20);
    private readonly NetworkFaults _network = new(cluster.Lab);

    public async Task<FaultRecord> RunAsync(int number, int probeClient, FaultPlan plan, CancellationToken cancellationToken)
    {
        var primary = await cluster.WaitUntilHealthyAsync(Healthy, streaming: true, cancellationToken);
        var roles = await Roles.ReadAsync(cluster, primary, cancellationToken);
        using var stopProbe = new CancellationTokenSource();
        using var abortProbe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var probe = new InsertClient(probeClient, cluster.DirectConnectionString(primary, commandTimeoutSeconds: 0), operations, log, cluster.Lab.NodeOf);
        var probing = Task.Run(() => probe.RunAsync(int.MaxValue, ProbePause, stopProbe.Token, abortProbe.Token), CancellationToken.None);
        ActiveFault? fault = null;
        var wasHealed = false;
        try
        {
            await Task.Delay(500, cancellationToken);
            var injected = log.Now;
            fault = await new Nemesis(cluster, _network).InjectAsync(plan, roles, cancellationToken);
            log.Line($"fault {number}: {plan}: {fault.Description}; {await _network.DescribeAsync(cancellationToken)}");
            await Task.Delay(plan.Duration, cancellationToken);
            var healed = log.Now;
            await fault.HealAsync(cancellationToken);
            wasHealed = true;
            log.Line($"fault {number} healed; {await _network.DescribeAsync(cancellationToken)}");
            var recovered = await WaitForEveryClientAsync(healed, cancellationToken);
            log.Line(recovered is { } r ? $"fault {number}: every client wrote again {(r - healed).TotalSeconds:F2} s after the heal" : $"fault {number}: some client did not write within {RecoveryWait.TotalSeconds} s of the heal");
            return new FaultRecord(number, plan, fault.Description, primary, injected, healed, recovered, probeClient, Nemesis.FencesReachablePrimary(plan, roles, fault.Target));
        }
        finally
        {
            if (fault is not null && !wasHealed)
            {
                // Broken off between the fault and its heal: heal anyway, so nothing outlives the fault's bound.
                await fault.HealAsync(CancellationToken.None);
            }

            await stopProbe.CancelAsync();
            if (await Task.WhenAny(probing, Task.Delay(TimeSpan.FromSeconds(35), CancellationToken.None)) != probing)
            {
                await abortProbe.CancelAsync();
            }

            await probing;
        }
    }

    /// <summary>
    /// When the last workload client to do so finished its first successful insert begun after the heal; null when one
    /// did not within <see cref="RecoveryWait"/>.
    /// </summary>
    private async Task<TimeSpan?> WaitForEveryClientAsync(TimeSpan healed, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < RecoveryWait)
        {
            var firstAfter = operations.Unordered
                .Where(o => o.Outcome == Outcome.Ok && o.Start >= healed && workloadClients.Contains(o.Key.Client))
                .GroupBy(o => o.Key.Client)
                .ToDictionary(g => g.Key, g => g.Min(o => o.End));
            if (firstAfter.Count == workloadClients.Count)
            {
                return firstAfter.Values.Max();
            }

            await Task.Delay(250, cancellationToken);
        }

        return null;
    }
}

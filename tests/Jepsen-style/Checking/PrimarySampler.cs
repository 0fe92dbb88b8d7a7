using PgRaft.JepsenStyle.Harness;

namespace PgRaft.JepsenStyle.Checking;

/// <summary>Which nodes answered 200 on /primary in one round of asking all of them at once.</summary>
internal sealed record PrimarySample(TimeSpan At, IReadOnlyList<int> Primaries);

/// <summary>
/// Asks every node's /primary at once, every ~100 ms, for the whole run. A node that does not answer within 500 ms
/// counts as not primary (a paused or cut-off node cannot answer at all).
/// </summary>
internal sealed class PrimarySampler(LabCluster cluster, RunLog clock) : IAsyncDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan AnswerWithin = TimeSpan.FromMilliseconds(500);
    private readonly List<PrimarySample> _samples = [];
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public void Start() => _loop = Task.Run(() => LoopAsync(_stop.Token));

    public async Task<IReadOnlyList<PrimarySample>> StopAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        return _samples;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            do
            {
                var at = clock.Now;
                var answers = await Task.WhenAll(cluster.NodeNumbers.Select(async n => (Node: n, Ok: await cluster.Api.OkAsync(n, "/primary", AnswerWithin, cancellationToken))));
                _samples.Add(new PrimarySample(at, answers.Where(a => a.Ok).Select(a => a.Node).ToList()));
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}

using System.Collections.Concurrent;

namespace PgRaft.Node.Hosting;

/// <summary>
/// When each of the node's loops last began a round (monotonic time). A loop whose round has run longer than a limit is
/// stalled: the systemd watchdog is then no longer fed, so systemd kills and restarts a hung pgraft. Loops whose rounds
/// may rightly take long (the keeper, during a base backup) are left out by <see cref="FindStalled"/>'s caller.
/// </summary>
internal sealed class LoopLiveness
{
    private readonly ConcurrentDictionary<string, TimeSpan> _lastBeat = new(StringComparer.Ordinal);

    /// <summary>The loop <paramref name="loop"/> begins a round (or is back from its wait) at <paramref name="now"/>.</summary>
    public void Beat(string loop, TimeSpan now) => _lastBeat[loop] = now;

    /// <summary>The loop that has gone longest without a beat, when that is more than <paramref name="limit"/>; else null.</summary>
    public (string Loop, TimeSpan Silence)? FindStalled(TimeSpan now, TimeSpan limit, IReadOnlySet<string> ignored)
    {
        (string Loop, TimeSpan Silence)? worst = null;
        foreach (var (loop, beat) in _lastBeat)
        {
            var silence = now - beat;
            if (!ignored.Contains(loop) && silence > limit && (worst is null || silence > worst.Value.Silence))
            {
                worst = (loop, silence);
            }
        }

        return worst;
    }
}

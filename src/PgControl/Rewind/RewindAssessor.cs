using System.Globalization;
using PgRaft.PgControl.Wal;

namespace PgRaft.PgControl.Rewind;

internal enum RewindDecision
{
    /// <summary>The local server can follow the source as it is.</summary>
    NotNeeded,

    /// <summary>Local WAL went past the fork point: pg_rewind (which can still fail, then clone).</summary>
    Needed,

    /// <summary>pg_rewind cannot help: clone with pg_basebackup.</summary>
    Hopeless,
}

internal sealed record RewindAssessment(RewindDecision Decision, string Reason);

/// <summary>One line of a timeline history file: <paramref name="Timeline"/> ended at <paramref name="SwitchPoint"/>.</summary>
internal sealed record TimelineHistoryEntry(int Timeline, Lsn SwitchPoint);

/// <param name="End">WAL up to (not including) this position exists locally.</param>
/// <param name="RewindCapable">Data checksums or wal_log_hints are on, which pg_rewind requires.</param>
/// <param name="TimelineFork">Where the local <paramref name="Timeline"/> forked from its parent (its history file's last switch point); null on timeline 1 or when unknown.</param>
internal sealed record LocalWalState(ulong SystemIdentifier, int Timeline, Lsn End, bool RewindCapable, Lsn? TimelineFork = null);

/// <param name="Position">The source's current WAL position (flush on a primary, replay on a standby).</param>
/// <param name="History">The source's timeline history (ancestors of its current timeline).</param>
/// <param name="InRecovery">The source is a standby (or still finishing its promotion), so its timeline may lag.</param>
internal sealed record SourceWalState(ulong SystemIdentifier, int Timeline, Lsn Position, IReadOnlyList<TimelineHistoryEntry> History, bool InRecovery = false);

/// <summary>Decides from timelines and WAL positions whether a server must be rewound to follow a source.</summary>
internal static class RewindAssessor
{
    public static RewindAssessment Assess(LocalWalState local, SourceWalState source)
    {
        if (local.SystemIdentifier != source.SystemIdentifier)
        {
            return new(RewindDecision.Hopeless,
                $"the local data directory belongs to another cluster (system identifier {local.SystemIdentifier}, source {source.SystemIdentifier})");
        }
        if (local.Timeline == source.Timeline && local.TimelineFork is { } localFork && source.History.Count > 0
            && source.History[^1].SwitchPoint != localFork)
        {
            // Both promoted from the same parent: same number, different branches. pg_rewind (15) compares only the
            // timeline numbers here, finds them equal and rewinds nothing; the standby would then fail on the first
            // mismatched record for ever. Only a fresh copy helps.
            return new(RewindDecision.Hopeless,
                $"the local timeline {local.Timeline} forked at {localFork}, the source's at {source.History[^1].SwitchPoint}: same number, different branches, which pg_rewind cannot tell apart");
        }
        if (local.Timeline == source.Timeline)
        {
            return local.End <= source.Position
                ? new(RewindDecision.NotNeeded, $"same timeline {local.Timeline} and the local WAL ({local.End}) is not ahead of the source ({source.Position})")
                : new(RewindDecision.Hopeless, $"the local WAL ({local.End}) is ahead of the source ({source.Position}) on the same timeline {local.Timeline}");
        }
        if (local.Timeline > source.Timeline)
        {
            return new(RewindDecision.Hopeless, $"the local timeline {local.Timeline} is newer than the source's {source.Timeline}");
        }
        var fork = source.History.FirstOrDefault(h => h.Timeline == local.Timeline);
        if (fork is null)
        {
            return new(RewindDecision.Hopeless, $"the source's timeline history does not contain the local timeline {local.Timeline}");
        }
        if (local.End <= fork.SwitchPoint)
        {
            return new(RewindDecision.NotNeeded, $"the local WAL ({local.End}) ends before the fork at {fork.SwitchPoint} from timeline {local.Timeline}");
        }
        return local.RewindCapable
            ? new(RewindDecision.Needed, $"the local WAL ({local.End}) went past the fork at {fork.SwitchPoint} from timeline {local.Timeline}")
            : new(RewindDecision.Hopeless, "the local WAL went past the fork, and neither data checksums nor wal_log_hints are on, which pg_rewind needs");
    }

    /// <summary>Parses a timeline history file (<c>parentTLI &lt;tab&gt; switchpoint &lt;tab&gt; reason</c> per line).</summary>
    public static IReadOnlyList<TimelineHistoryEntry> ParseHistory(string text)
    {
        var entries = new List<TimelineHistoryEntry>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var fields = line.Split((char[])['\t', ' '], 3, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2
                || !int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var timeline)
                || !Lsn.TryParse(fields[1], out var switchPoint))
            {
                throw new FormatException($"'{line}' is not a timeline history line (expected: timeline, tab, switch point LSN, tab, reason).");
            }
            entries.Add(new TimelineHistoryEntry(timeline, switchPoint));
        }
        return entries;
    }
}

namespace PgRaft.Node.Hosting;

/// <summary>
/// How often the keeper reports. While this node is a pending switchover's target, or while its proxy holds read-write
/// clients for a primary the view names but the leader does not yet see running, the next step waits on news in a
/// report (the target's position, the new primary's first report and every proxy learning of it from the leader's
/// answer): then
/// the node reports every <see cref="UrgentInterval"/>, for at most <see cref="UrgentLimit"/> per episode, so an outage
/// with no way out does not keep every node reporting fifty times a second.
/// </summary>
internal sealed class ReportCadence(TimeSpan normal)
{
    public static readonly TimeSpan UrgentInterval = TimeSpan.FromMilliseconds(20);
    public static readonly TimeSpan UrgentLimit = TimeSpan.FromSeconds(5);

    private TimeSpan? _urgentSince;

    public TimeSpan Normal => normal;

    /// <summary>The wait before the next report, <paramref name="now"/> on a monotonic clock.</summary>
    public TimeSpan Next(TimeSpan now, bool switchoverTarget, bool holdingForNamedPrimary)
    {
        if (!switchoverTarget && !holdingForNamedPrimary)
        {
            _urgentSince = null;
            return normal;
        }

        _urgentSince ??= now;
        return now - _urgentSince.Value < UrgentLimit ? UrgentInterval : normal;
    }
}

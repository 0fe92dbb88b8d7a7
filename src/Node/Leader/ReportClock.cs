using PgRaft.Node.Cluster;

namespace PgRaft.Node.Leader;

/// <summary>
/// One reading of a Raft leader's monotonic clock, sent back with every report ack. Only readings of the same leader
/// in the same term share a clock (a restarted process leads only in a later term), so nothing else compares them.
/// </summary>
internal sealed record LeaderClockReading(string Leader, long Term, TimeSpan At);

/// <summary>
/// What a keeper's report says about when it was observed: the newest leader clock reading the keeper had received
/// before it probed PostgreSQL, and how long it had held that reading then (the keeper's own monotonic clock).
/// </summary>
internal sealed record ClockEcho(LeaderClockReading Reading, TimeSpan HeldFor);

/// <summary>
/// The leader's stamp on a report: a moment on its own clock at or before the keeper observed what it reports. A
/// report's arrival time is no such bound (a report delayed in the network, or by a paused process, arrives after
/// states that came later), so the sentinel's freshness, failure detection and final positions use this stamp only.
/// </summary>
internal static class ReportStamp
{
    /// <summary>
    /// The echoed reading plus the time the keeper held it, scaled down by the clock-rate error the lease already allows
    /// (<c>driftMargin</c> over <c>leaseTimeout</c>) and counted for at most <c>leaseTimeout</c>: the keeper received the
    /// reading after the leader took it and probed after it had held it that long, so the probe came later than the
    /// stamp. Without the held time the stamp would lag the probe by a whole report interval. Null (no valid stamp)
    /// when the echo is missing, comes from another leader or term, or is not a reading this clock has reached.
    /// </summary>
    public static TimeSpan? Compute(ClockEcho? echo, string leader, long term, TimeSpan now, ClusterSpec spec)
    {
        if (echo is not { Reading: var reading } || reading.Leader != leader || reading.Term != term || reading.At > now || reading.At < TimeSpan.Zero)
        {
            return null;
        }

        var held = echo.HeldFor <= TimeSpan.Zero ? TimeSpan.Zero : echo.HeldFor < spec.LeaseTimeout ? echo.HeldFor : spec.LeaseTimeout;
        var rateError = spec.LeaseTimeout > TimeSpan.Zero ? Math.Clamp(spec.DriftMargin / spec.LeaseTimeout, 0, 1) : 1;
        var stamp = reading.At + (held * (1 - rateError));
        return stamp < now ? stamp : now;
    }
}

/// <summary>
/// The keeper's memory of the newest leader clock reading it received (DESIGN §5): the next report echoes it, taken
/// before PostgreSQL is probed. Thread-safe.
/// </summary>
internal sealed class LeaderClockEcho(MonotonicClock clock)
{
    private readonly Lock _gate = new();
    private LeaderClockReading? _newest;
    private TimeSpan _receivedAt;

    /// <summary>Keeps <paramref name="reading"/> unless it is missing or older (an earlier term, or earlier in the same term).</summary>
    public void Received(LeaderClockReading? reading)
    {
        if (reading is null)
        {
            return;
        }

        var receivedAt = clock.Now;
        lock (_gate)
        {
            if (_newest is { } newest && (reading.Term < newest.Term || (reading.Term == newest.Term && reading.Leader == newest.Leader && reading.At <= newest.At)))
            {
                return;
            }

            _newest = reading;
            _receivedAt = receivedAt;
        }
    }

    /// <summary>Call right before probing: the echo the report of that probe carries (null before any ack).</summary>
    public ClockEcho? BeforeProbe()
    {
        lock (_gate)
        {
            return _newest is { } newest ? new ClockEcho(newest, clock.Now - _receivedAt) : null;
        }
    }
}

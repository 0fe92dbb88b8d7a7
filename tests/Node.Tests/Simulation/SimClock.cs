namespace PgRaft.Node.Tests.Simulation;

/// <summary>
/// One machine's monotonic clock in the simulation: it runs at its own rate (1 ± a small drift) from its own origin,
/// so readings on different machines are unrelated and only rates roughly agree (DESIGN §7).
/// </summary>
internal sealed class SimClock(Func<TimeSpan> globalNow, double rate, TimeSpan origin, TimeSpan wallSkew) : TimeProvider
{
    private static readonly DateTimeOffset Epoch = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => origin.Ticks + (long)(globalNow().Ticks * rate);

    /// <summary>Wall clocks are kept roughly in step (NTP): only history entries and the switchover timeout read them.</summary>
    public override DateTimeOffset GetUtcNow() => Epoch + globalNow() + wallSkew;

    /// <summary>This machine's raw monotonic reading (what its guard and loops schedule by).</summary>
    public TimeSpan Now => TimeSpan.FromTicks(GetTimestamp());
}

/// <summary>A loop that runs every <see cref="Interval"/> of its machine's clock.</summary>
internal sealed class Periodic(TimeSpan interval, TimeSpan firstDue)
{
    private TimeSpan _due = firstDue;

    public TimeSpan Interval => interval;

    /// <summary>True (and schedules the next run) when the loop is due at <paramref name="now"/>.</summary>
    public bool Due(TimeSpan now)
    {
        if (now < _due)
        {
            return false;
        }

        _due = now + interval;
        return true;
    }
}

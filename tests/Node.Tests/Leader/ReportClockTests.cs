using PgRaft.Node.Cluster;
using PgRaft.Node.Leader;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Cluster;
using PgRaft.Node.Tests.Simulation;

namespace PgRaft.Node.Tests.Leader;

public sealed class ReportClockTests
{
    // leaseTimeout 2 s, driftMargin 0.1 s: rates within 5 % (pinned: the figures below are worked out for these).
    private static readonly ClusterSpec Spec = ClusterSpec.Default with { LeaseTimeout = TimeSpan.FromSeconds(2), DriftMargin = TimeSpan.FromMilliseconds(100), FailTimeout = TimeSpan.FromMilliseconds(1500) };

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static KeeperReport Report(string id, ClockEcho? echo = null, bool healthy = true, ulong position = 0x5000000) => new()
    {
        NodeId = id,
        ObservedAfter = echo,
        PostgresRunning = healthy,
        Healthy = healthy,
        Role = PgRole.Standby,
        ReceiveLsn = new Lsn(position),
    };

    [Fact]
    public void The_stamp_is_the_echoed_reading_plus_the_held_time_less_the_allowed_rate_error()
    {
        var echo = new ClockEcho(new LeaderClockReading("node1", 7, Ms(10_000)), Ms(200));

        Assert.Equal(Ms(10_190), ReportStamp.Compute(echo, "node1", 7, Ms(10_400), Spec));

        // Never later than the leader's clock now, nor counting more than leaseTimeout of held time.
        Assert.Equal(Ms(10_100), ReportStamp.Compute(echo, "node1", 7, Ms(10_100), Spec));
        var heldLong = echo with { HeldFor = TimeSpan.FromMinutes(5) };
        Assert.Equal(Ms(11_900), ReportStamp.Compute(heldLong, "node1", 7, Ms(400_000), Spec));
        Assert.Equal(Ms(10_000), ReportStamp.Compute(echo with { HeldFor = Ms(-50) }, "node1", 7, Ms(10_400), Spec));
    }

    [Fact]
    public void A_report_without_an_echo_of_this_leader_in_this_term_has_no_stamp()
    {
        var echo = new ClockEcho(new LeaderClockReading("node1", 7, Ms(10_000)), Ms(200));

        Assert.Null(ReportStamp.Compute(null, "node1", 7, Ms(10_400), Spec));
        Assert.Null(ReportStamp.Compute(echo, "node2", 7, Ms(10_400), Spec));
        Assert.Null(ReportStamp.Compute(echo, "node1", 8, Ms(10_400), Spec));

        // A reading this clock has not reached cannot be one of its own.
        Assert.Null(ReportStamp.Compute(echo, "node1", 7, Ms(9_999), Spec));
    }

    [Fact]
    public void The_keeper_keeps_the_newest_reading_and_says_how_long_it_held_it()
    {
        var real = TimeSpan.Zero;
        var echo = new LeaderClockEcho(new MonotonicClock(new SimClock(() => real, 1, TimeSpan.FromHours(3), TimeSpan.Zero)));
        Assert.Null(echo.BeforeProbe());

        echo.Received(new LeaderClockReading("node1", 7, Ms(5_000)));
        real += Ms(120);
        Assert.Equal(new ClockEcho(new LeaderClockReading("node1", 7, Ms(5_000)), Ms(120)), echo.BeforeProbe());

        // An older reading of the same term (a late ack), an earlier term's, or none change nothing.
        echo.Received(new LeaderClockReading("node1", 7, Ms(4_000)));
        echo.Received(new LeaderClockReading("node3", 6, Ms(90_000)));
        echo.Received(null);
        Assert.Equal(Ms(5_000), echo.BeforeProbe()!.Reading.At);

        // A newer term's reading replaces it, whatever its value.
        echo.Received(new LeaderClockReading("node2", 8, Ms(100)));
        real += Ms(30);
        Assert.Equal(new ClockEcho(new LeaderClockReading("node2", 8, Ms(100)), Ms(30)), echo.BeforeProbe());
    }

    [Fact]
    public void The_table_keeps_the_newest_observation_whatever_order_reports_arrive_in()
    {
        var newer = Report("node2", position: 0x5000100) with { ObservedAt = Ms(2_000) };
        var older = Report("node2", position: 0x5000000) with { ObservedAt = Ms(1_000) };
        var undated = Report("node2", position: 0x4000000);

        var table = ReportTable.Empty.With(newer).With(older).With(undated);

        Assert.Same(newer, table.Latest("node2"));
        Assert.Equal(Ms(2_000), table.LastHealthyAt("node2"));

        // Before any dated report, an undated one is shown (it counts for nothing: not fresh, no liveness).
        var first = ReportTable.Empty.With(undated);
        Assert.Same(undated, first.Latest("node2"));
        Assert.Null(first.LastHealthyAt("node2"));
        Assert.False(undated.IsFresh(Ms(0), Spec.FailTimeout));

        // An unhealthy observation after a healthy one keeps the healthy one's stamp as the last sign of life.
        var failed = Report("node2", healthy: false) with { ObservedAt = Ms(2_500) };
        Assert.Equal(Ms(2_000), table.With(failed).LastHealthyAt("node2"));
        Assert.Same(failed, table.With(failed).Latest("node2"));
    }

    [Fact]
    public void The_leader_acks_with_its_clock_and_stamps_the_next_report_with_the_echo()
    {
        var real = Ms(50_000);
        var leaderClock = new MonotonicClock(new SimClock(() => real, 1, TimeSpan.FromHours(1), TimeSpan.Zero));
        var keeper = new LeaderClockEcho(new MonotonicClock(new SimClock(() => real, 1, TimeSpan.FromHours(9), TimeSpan.Zero)));
        var duties = new LeaderDuties(leaderClock);
        duties.EnsureTerm(4);

        keeper.Received(duties.Accept(Report("node2", keeper.BeforeProbe()), "node1", Spec));
        Assert.Null(duties.Snapshot().Reports.Latest("node2")!.ObservedAt);
        var ackedAt = leaderClock.Now;

        real += Ms(250);
        var echo = keeper.BeforeProbe();
        real += Ms(40); // on its way
        var reading = duties.Accept(Report("node2", echo), "node1", Spec);

        var latest = duties.Snapshot().Reports.Latest("node2")!;
        Assert.Equal(ackedAt + (Ms(250) * 0.95), latest.ObservedAt);
        Assert.Equal(ackedAt + Ms(290), latest.ReceivedAt);
        Assert.Equal(new LeaderClockReading("node1", 4, ackedAt + Ms(290)), reading);

        // A new term of the same leader starts afresh: the echo of the old term dates nothing.
        duties.EnsureTerm(5);
        duties.Accept(Report("node2", keeper.BeforeProbe()), "node1", Spec);
        Assert.Null(duties.Snapshot().Reports.Latest("node2")!.ObservedAt);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    [InlineData(80)]
    public void A_healthy_keeper_s_reports_age_at_most_one_interval_and_one_round_trip(int oneWayMs)
    {
        // Keeper loop every 250 ms; report and ack each take oneWayMs. Arrival stamps aged up to one interval; the echo
        // adds the round trip, and the 5 % rate allowance on the held time.
        var real = TimeSpan.Zero;
        var leaderClock = new MonotonicClock(new SimClock(() => real, 1, TimeSpan.FromHours(1), TimeSpan.Zero));
        var keeper = new LeaderClockEcho(new MonotonicClock(new SimClock(() => real, 1, TimeSpan.FromHours(5), TimeSpan.Zero)));
        var duties = new LeaderDuties(leaderClock);
        duties.EnsureTerm(1);
        var step = Ms(10);
        var oneWay = Ms(oneWayMs);
        var inFlight = new List<(TimeSpan At, KeeperReport Report)>();
        var acks = new List<(TimeSpan At, LeaderClockReading Reading)>();
        var oldest = TimeSpan.Zero;
        for (real = TimeSpan.Zero; real < TimeSpan.FromSeconds(10); real += step)
        {
            foreach (var (_, report) in inFlight.Where(r => r.At <= real).ToList())
            {
                acks.Add((real + oneWay, duties.Accept(report, "node1", Spec)));
            }

            inFlight.RemoveAll(r => r.At <= real);
            foreach (var (_, reading) in acks.Where(a => a.At <= real))
            {
                keeper.Received(reading);
            }

            acks.RemoveAll(a => a.At <= real);
            if (real.Ticks % Ms(250).Ticks == 0)
            {
                inFlight.Add((real + oneWay, Report("node2", keeper.BeforeProbe())));
            }

            if (real >= TimeSpan.FromSeconds(1))
            {
                var latest = duties.Snapshot().Reports.Latest("node2")!;
                Assert.True(latest.IsFresh(leaderClock.Now, Spec.FailTimeout));
                var age = leaderClock.Now - latest.ObservedAt!.Value;
                oldest = age > oldest ? age : oldest;
            }
        }

        // Sampled every step: the peak may fall just before a step.
        Assert.InRange(oldest, Ms(250) + (2 * oneWay) - step, Ms(250) + (2 * oneWay) + (Ms(250) * 0.05) + step);
    }

    [Fact]
    public void The_stamp_is_never_later_than_the_probe_while_clock_rates_stay_within_the_drift_margin()
    {
        // Real time runs on; each clock runs at its own rate (1 ± 2.5 %: their ratio stays within the 5 % the spec
        // allows) from its own origin. The ack and the report each take their time; the keeper holds the reading a while.
        Properties.ForAllSeeds(20261122UL, 300, seed =>
        {
            var random = new Random(seed);
            var real = Ms(random.Next(0, 100_000));
            double Rate() => 1 + ((random.NextDouble() * 2) - 1) * 0.025;
            var leaderClock = new MonotonicClock(new SimClock(() => real, Rate(), Ms(random.Next(0, 1_000_000)), TimeSpan.Zero));
            var keeper = new LeaderClockEcho(new MonotonicClock(new SimClock(() => real, Rate(), Ms(random.Next(0, 1_000_000)), TimeSpan.Zero)));
            var duties = new LeaderDuties(leaderClock);
            var term = random.Next(1, 50);
            duties.EnsureTerm(term);

            var reading = duties.Accept(Report("node2"), "node1", Spec);
            real += Ms(random.Next(2) == 0 ? 0 : random.Next(0, 3_000)); // the tightest case: an instant ack
            keeper.Received(reading);
            real += Ms(random.Next(0, 2_500));
            var echo = keeper.BeforeProbe();
            var leaderAtProbe = leaderClock.Now;
            real += Ms(random.Next(0, 3_000));
            var otherTerm = random.Next(8) == 0;
            if (otherTerm)
            {
                duties.EnsureTerm(term + 1);
            }

            duties.Accept(Report("node2", echo), "node1", Spec);
            var stamp = duties.Snapshot().Reports.Latest("node2")!.ObservedAt;
            return otherTerm
                ? stamp is null
                : stamp is { } at && at <= leaderAtProbe && at >= reading.At;
        });
    }
}

using PgRaft.Node.Hosting;

namespace PgRaft.Node.Tests.Hosting;

public sealed class ReportCadenceTests
{
    private static readonly TimeSpan Normal = TimeSpan.FromMilliseconds(100);

    [Fact]
    public void Reports_at_the_normal_interval_when_nothing_waits_on_news()
    {
        var cadence = new ReportCadence(Normal);
        Assert.Equal(Normal, cadence.Next(TimeSpan.FromSeconds(1), switchoverTarget: false, holdingForNamedPrimary: false));
    }

    [Fact]
    public void Reports_quickly_as_a_switchover_target_and_while_holding_clients_for_a_named_primary()
    {
        var cadence = new ReportCadence(Normal);
        Assert.Equal(ReportCadence.UrgentInterval, cadence.Next(TimeSpan.FromSeconds(1), true, false));
        Assert.Equal(ReportCadence.UrgentInterval, cadence.Next(TimeSpan.FromSeconds(2), false, true));
    }

    [Fact]
    public void An_urgent_episode_ends_after_its_limit_and_a_new_one_starts_afresh()
    {
        var cadence = new ReportCadence(Normal);
        var start = TimeSpan.FromSeconds(10);
        Assert.Equal(ReportCadence.UrgentInterval, cadence.Next(start, false, true));
        Assert.Equal(ReportCadence.UrgentInterval, cadence.Next(start + ReportCadence.UrgentLimit - TimeSpan.FromMilliseconds(1), false, true));
        Assert.Equal(Normal, cadence.Next(start + ReportCadence.UrgentLimit, false, true));
        Assert.Equal(Normal, cadence.Next(start + TimeSpan.FromSeconds(30), false, true));

        Assert.Equal(Normal, cadence.Next(start + TimeSpan.FromSeconds(31), false, false));
        Assert.Equal(ReportCadence.UrgentInterval, cadence.Next(start + TimeSpan.FromSeconds(32), true, false));
    }
}

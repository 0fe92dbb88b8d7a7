using PgRaft.JepsenStyle.Faults;

namespace PgRaft.JepsenStyle.CheckerTests;

public sealed class ScheduleTests
{
    [Fact]
    public void The_fixed_schedule_covers_every_fault_kind_once()
    {
        Assert.Equal(Enum.GetValues<FaultKind>().Order(), Schedules.EveryKindOnce().Select(p => p.Kind).Order());
    }

    [Fact]
    public void A_seed_replays_its_schedule_and_every_pause_outlasts_the_lease()
    {
        var first = Schedules.Random(1234, 200);

        Assert.Equal(first, Schedules.Random(1234, 200));
        Assert.NotEqual(first, Schedules.Random(1235, 200));
        Assert.Equal(Enum.GetValues<FaultKind>().Order(), first.Select(p => p.Kind).Distinct().Order());
        // The default lease is 1.5 s: a pause must outlast it for the guard to fence.
        Assert.All(first.Where(p => p.Kind == FaultKind.PausePgraft), p => Assert.True(p.Duration >= TimeSpan.FromSeconds(4)));
        Assert.All(first, p => Assert.True(p.Duration <= TimeSpan.FromSeconds(8)));
    }
}

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

    [Fact]
    public void A_fault_filter_draws_only_the_named_pairs_and_a_bad_one_is_named()
    {
        var only = Schedules.ParseFaults("pausepgraft:RaftLeader, IsolateNode:raftleader");
        Assert.Equal([(FaultKind.PausePgraft, TargetRole.RaftLeader), (FaultKind.IsolateNode, TargetRole.RaftLeader)], only);
        var plans = Schedules.Random(99, 50, only);
        Assert.All(plans, p => Assert.Contains((p.Kind, p.Role), only));
        Assert.Contains(plans, p => p.Kind == FaultKind.PausePgraft);
        Assert.Contains(plans, p => p.Kind == FaultKind.IsolateNode);
        Assert.All(plans.Where(p => p.Kind == FaultKind.PausePgraft), p => Assert.True(p.Duration >= TimeSpan.FromSeconds(4)));

        Assert.Contains("'Sleep:Primary' is not Kind:Role", Assert.Throws<FormatException>(() => Schedules.ParseFaults("Sleep:Primary")).Message, StringComparison.Ordinal);
        Assert.Contains("only applies to the Primary role", Assert.Throws<FormatException>(() => Schedules.ParseFaults("PartitionPrimary:Standby")).Message, StringComparison.Ordinal);
    }
}

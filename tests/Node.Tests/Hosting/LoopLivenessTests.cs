using PgRaft.Node.Hosting;

namespace PgRaft.Node.Tests.Hosting;

public sealed class LoopLivenessTests
{
    private static readonly HashSet<string> None = [];

    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void Loops_that_beat_within_the_limit_are_alive()
    {
        var liveness = new LoopLiveness();
        liveness.Beat("report", S(10));
        liveness.Beat("lease", S(19));

        Assert.Null(liveness.FindStalled(S(20), S(15), None));
    }

    [Fact]
    public void The_longest_silent_loop_past_the_limit_is_named()
    {
        var liveness = new LoopLiveness();
        liveness.Beat("report", S(1));
        liveness.Beat("lease", S(3));
        liveness.Beat("routing", S(29));

        Assert.Equal(("report", S(29)), liveness.FindStalled(S(30), S(15), None));

        liveness.Beat("report", S(30));
        Assert.Equal(("lease", S(27)), liveness.FindStalled(S(30), S(15), None));
    }

    [Fact]
    public void Ignored_loops_may_run_long_rounds()
    {
        var liveness = new LoopLiveness();
        liveness.Beat("keeper", S(0));
        liveness.Beat("report", S(299));

        Assert.Null(liveness.FindStalled(S(300), S(15), new HashSet<string> { "keeper" }));
        Assert.Equal("keeper", liveness.FindStalled(S(300), S(15), None)?.Loop);
    }
}

using FsCheck;
using FsCheck.Fluent;
using PgRaft.PgControl.Instance;
using PgRaft.PgControl.Rewind;
using PgRaft.PgControl.Wal;

namespace PgRaft.PgControl.Tests.Rewind;

public sealed class RewindAssessorTests
{
    private const ulong System = 7300000000000000001;
    private static readonly Lsn Fork = Lsn.Parse("0/5000060");
    private static readonly SourceWalState Promoted = new(System, 2, Lsn.Parse("0/6000000"), [new TimelineHistoryEntry(1, Fork)]);

    private static LocalWalState Local(int timeline, Lsn end, bool capable = true, ulong system = System) => new(system, timeline, end, capable);

    [Fact]
    public void Behind_the_fork_needs_no_rewind() =>
        Assert.Equal(RewindDecision.NotNeeded, RewindAssessor.Assess(Local(1, Fork), Promoted).Decision);

    [Fact]
    public void Past_the_fork_needs_a_rewind() =>
        Assert.Equal(RewindDecision.Needed, RewindAssessor.Assess(Local(1, new Lsn(Fork.Value + 1)), Promoted).Decision);

    [Fact]
    public void Past_the_fork_without_checksums_or_hints_is_hopeless() =>
        Assert.Equal(RewindDecision.Hopeless, RewindAssessor.Assess(Local(1, new Lsn(Fork.Value + 1), capable: false), Promoted).Decision);

    [Fact]
    public void Another_cluster_is_hopeless()
    {
        var assessment = RewindAssessor.Assess(Local(1, Fork, system: System + 1), Promoted);
        Assert.Equal(RewindDecision.Hopeless, assessment.Decision);
        Assert.Contains("another cluster", assessment.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_timeline_missing_from_the_source_history_or_newer_than_the_source_is_hopeless()
    {
        Assert.Equal(RewindDecision.Hopeless, RewindAssessor.Assess(Local(3, Fork), Promoted).Decision);
        var fromTimeline3 = Promoted with { Timeline = 4, History = [new TimelineHistoryEntry(1, Fork), new TimelineHistoryEntry(3, Lsn.Parse("0/7000000"))] };
        Assert.Equal(RewindDecision.Hopeless, RewindAssessor.Assess(Local(2, Fork), fromTimeline3).Decision);
    }

    [Fact]
    public void On_the_same_timeline_only_a_local_lead_is_hopeless() =>
        Prop.ForAll(ArbMap.Default.ArbFor<uint>(), ArbMap.Default.ArbFor<uint>(), (local, source) =>
        {
            var decision = RewindAssessor.Assess(Local(2, new Lsn(local)), Promoted with { Position = new Lsn(source) }).Decision;
            return decision == (local <= source ? RewindDecision.NotNeeded : RewindDecision.Hopeless);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void A_same_numbered_timeline_with_another_fork_point_is_hopeless_for_pg_rewind()
    {
        // Local promoted from timeline 1 at 0/5800000, the source at Fork: both are on a timeline 2, and the local WAL
        // is not ahead of the source's, so by number and position alone it would look like a prefix.
        var otherBranch = new LocalWalState(System, 2, Lsn.Parse("0/5900000"), true, Lsn.Parse("0/5800000"));
        var assessment = RewindAssessor.Assess(otherBranch, Promoted);
        Assert.Equal(RewindDecision.Hopeless, assessment.Decision);
        Assert.Contains("different branches", assessment.Reason, StringComparison.Ordinal);

        // On the source's own branch (same fork point), or with the fork unknown, the position rule decides as before.
        Assert.Equal(RewindDecision.NotNeeded, RewindAssessor.Assess(otherBranch with { TimelineFork = Fork }, Promoted).Decision);
        Assert.Equal(RewindDecision.NotNeeded, RewindAssessor.Assess(otherBranch with { TimelineFork = null }, Promoted).Decision);
    }

    [Fact]
    public void Parses_a_history_file()
    {
        var history = RewindAssessor.ParseHistory("1\t0/3000060\tno recovery target specified\n\n2\t0/50000D8\tno recovery target specified\n");
        Assert.Equal([new TimelineHistoryEntry(1, Lsn.Parse("0/3000060")), new TimelineHistoryEntry(2, Lsn.Parse("0/50000D8"))], history);
        Assert.Throws<FormatException>(() => RewindAssessor.ParseHistory("one\tzero\n"));
    }

    [Fact]
    public void Parses_pg_controldata()
    {
        const string output = """
            pg_control version number:            1300
            Database system identifier:           7300000000000000001
            Database cluster state:               shut down
            Latest checkpoint location:           0/5000028
            Latest checkpoint's TimeLineID:       2
            Minimum recovery ending location:     0/0
            wal_log_hints setting:                on
            Data page checksum version:           1
            """;
        var control = ControlData.Parse(output);
        Assert.Equal(System, control.SystemIdentifier);
        Assert.Equal(2, control.CheckpointTimeline);
        Assert.True(control.CleanlyShutDown && control.DataChecksums && control.WalLogHints);
        Assert.Equal(Lsn.Parse("0/5000029"), control.WalEndEstimate);
        Assert.Throws<FormatException>(() => ControlData.Parse("Database system identifier: 1\n"));
    }

    [Fact]
    public void Scram_verifiers_have_PostgreSQL_s_format_and_a_fresh_salt()
    {
        var first = ScramVerifier.Create("pencil");
        var second = ScramVerifier.Create("pencil");
        Assert.Matches(@"^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$", first);
        Assert.NotEqual(first, second);
        Assert.DoesNotContain("pencil", first, StringComparison.Ordinal);
    }
}

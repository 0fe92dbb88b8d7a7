using PgRaft.JepsenStyle.Checking;
using PgRaft.JepsenStyle.Workload;
using static PgRaft.JepsenStyle.CheckerTests.Observations;

namespace PgRaft.JepsenStyle.CheckerTests;

/// <summary>The checker finds each kind of violation it claims to, and nothing in a clean run.</summary>
public sealed class CheckerTests
{
    [Fact]
    public void A_clean_run_has_no_violations()
    {
        Assert.Empty(Checker.Check(Clean()));
    }

    [Fact]
    public void An_acknowledged_write_missing_on_the_final_primary_is_lost()
    {
        var run = Run([Op(1, 1, 0, 0.1), Op(1, 2, 0.2, 0.3)], [new Key(1, 1)]);

        var violation = Assert.Single(Checker.Check(run));
        Assert.Contains("1 acknowledged writes are missing", violation, StringComparison.Ordinal);
        Assert.Contains("(1,2)", violation, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_write_may_be_present_or_absent()
    {
        var present = Run([Op(1, 1, 0, 0.1, Outcome.Unknown)], [new Key(1, 1)]);
        var absent = Run([Op(1, 1, 0, 0.1, Outcome.Unknown)], []);

        Assert.Empty(Checker.Check(present));
        Assert.Empty(Checker.Check(absent));
    }

    [Fact]
    public void Rows_never_written_rows_of_failed_inserts_and_duplicates_are_flagged()
    {
        var run = Run([Op(1, 1, 0, 0.1), Op(1, 2, 0.2, 0.3, Outcome.Failed)], [new Key(1, 1), new Key(1, 1), new Key(1, 2), new Key(7, 7)]);

        var violations = Checker.UnexpectedRows(run).ToList();
        Assert.Equal(3, violations.Count);
        Assert.Contains(violations, v => v.Contains("never written", StringComparison.Ordinal) && v.Contains("(7,7)", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("certainly failed", StringComparison.Ordinal) && v.Contains("(1,2)", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("more than once", StringComparison.Ordinal) && v.Contains("(1,1) x2", StringComparison.Ordinal));
    }

    [Fact]
    public void A_node_whose_copy_differs_from_the_primary_is_flagged()
    {
        var clean = Clean();
        var rows = new Dictionary<int, IReadOnlyList<Key>>(clean.Final.RowsByNode) { [3] = [new Key(1, 1)] };
        var run = clean with { Final = clean.Final with { RowsByNode = rows } };

        var violation = Assert.Single(Checker.Check(run));
        Assert.Contains("node3 holds 1 rows", violation, StringComparison.Ordinal);
        Assert.Contains("missing (1,2)", violation, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_nodes_answering_primary_in_one_sample_is_flagged()
    {
        var run = Clean() with { Samples = [new PrimarySample(TimeSpan.FromSeconds(3), [1, 2])] };

        var violation = Assert.Single(Checker.Check(run));
        Assert.Contains("more than one primary", violation, StringComparison.Ordinal);
        Assert.Contains("nodes 1,2", violation, StringComparison.Ordinal);
    }

    [Fact]
    public void A_history_that_does_not_rise_or_that_nodes_disagree_on_is_flagged()
    {
        var falling = Clean() with
        {
            Histories = new Dictionary<int, IReadOnlyList<PgRaft.Node.Cluster.HistoryEntry>>
            {
                [1] = [Change(1, "node1"), Change(5, "node2"), Change(5, "node3")],
                [2] = [Change(1, "node1"), Change(5, "node2"), Change(5, "node3")],
                [3] = [Change(1, "node1"), Change(5, "node2")],
            },
        };

        var violations = Checker.Histories(falling).ToList();
        Assert.Contains(violations, v => v.Contains("node1's history does not rise", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("different histories", StringComparison.Ordinal));
    }

    [Fact]
    public void A_write_the_old_primary_acknowledged_after_the_new_primary_took_one_is_split_brain()
    {
        // node2 acknowledges at 5.1 s; node1, the old primary, then acknowledges an insert begun at 5.5 s.
        var operations = new[] { Op(1, 1, 4.0, 4.1), Op(2, 1, 5.0, 5.1, ackedBy: 2), Op(1, 2, 5.5, 5.6), Op(1, 3, 8.1, 8.2, ackedBy: 2), Op(2, 2, 8.1, 8.2, ackedBy: 2) };
        var run = Run(operations, [new Key(1, 1), new Key(1, 2), new Key(1, 3), new Key(2, 1), new Key(2, 2)], [Fault(injected: 3, healed: 8, recovered: 8.2)]) with { WorkloadEntries = new Dictionary<int, int> { [1] = 1, [2] = 2 } };

        var violation = Assert.Single(Checker.Check(run));
        Assert.Contains("old primary node1 acknowledged 1 writes begun after that", violation, StringComparison.Ordinal);
    }

    [Fact]
    public void Writes_the_old_primary_acknowledged_before_the_new_one_took_over_are_fine()
    {
        var operations = new[] { Op(1, 1, 4.0, 4.1), Op(1, 2, 4.2, 5.3), Op(2, 1, 5.0, 5.1, ackedBy: 2), Op(1, 3, 8.1, 8.2, ackedBy: 2), Op(2, 2, 8.1, 8.2, ackedBy: 2) };
        var run = Run(operations, [new Key(1, 1), new Key(1, 2), new Key(1, 3), new Key(2, 1), new Key(2, 2)], [Fault(injected: 3, healed: 8, recovered: 8.2)]) with { WorkloadEntries = new Dictionary<int, int> { [1] = 1, [2] = 2 } };

        Assert.Empty(Checker.Check(run));
    }

    [Fact]
    public void A_direct_client_that_keeps_its_fenced_primary_or_loses_it_late_is_flagged()
    {
        var keptWriting = Run([Op(100, 1, 3.5, 3.6), Op(100, 2, 7.0, 7.1)], [new Key(100, 1), new Key(100, 2)], [Fault(3, 8, 9, fenceExpected: true)]);
        var lostLate = Run([Op(100, 1, 3.5, 3.6), Op(100, 2, 3.7, 9.5, Outcome.Unknown)], [new Key(100, 1)], [Fault(3, 12, 13, fenceExpected: true)]);
        var wroteAfterFence = Run([Op(100, 1, 3.5, 4.0, Outcome.Unknown), Op(100, 2, 4.5, 4.6)], [new Key(100, 2)], [Fault(3, 8, 9, fenceExpected: true)]);
        var fencedInTime = Run([Op(100, 1, 3.5, 3.6), Op(100, 2, 3.7, 4.9, Outcome.Unknown), Op(100, 3, 5.0, 5.1, Outcome.Failed)], [new Key(100, 1)], [Fault(3, 8, 9, fenceExpected: true)]);

        Assert.Contains("kept writing until the heal", Assert.Single(Checker.Fencing(keptWriting)), StringComparison.Ordinal);
        Assert.Contains("lost it only 6.50 s after the fault", Assert.Single(Checker.Fencing(lostLate)), StringComparison.Ordinal);
        Assert.Contains("took 1 direct writes after it was fenced", Assert.Single(Checker.Fencing(wroteAfterFence)), StringComparison.Ordinal);
        Assert.Empty(Checker.Fencing(fencedInTime));
    }

    [Fact]
    public void Clients_that_never_write_again_or_only_after_the_bound_are_flagged()
    {
        var entries = new Dictionary<int, int> { [1] = 1, [2] = 2 };
        var never = Run([Op(1, 1, 8.5, 8.6)], [new Key(1, 1)], [Fault(3, 8, recovered: null)]) with { WorkloadEntries = entries };
        var late = Run([Op(1, 1, 8.5, 8.6), Op(2, 1, 8.5, 39.0, ackedBy: 2)], [new Key(1, 1), new Key(2, 1)], [Fault(3, 8, recovered: 39)]) with { WorkloadEntries = entries };
        var inTime = Run([Op(1, 1, 8.5, 8.6), Op(2, 1, 8.5, 37.0, ackedBy: 2)], [new Key(1, 1), new Key(2, 1)], [Fault(3, 8, recovered: 37)]) with { WorkloadEntries = entries };

        Assert.Contains("client 2 (through node2) never wrote again", Assert.Single(Checker.Recovery(never)), StringComparison.Ordinal);
        Assert.Contains("client 2 (through node2) wrote again only 31.00 s after the heal", Assert.Single(Checker.Recovery(late)), StringComparison.Ordinal);
        Assert.Empty(Checker.Recovery(inTime));
    }

    [Fact]
    public void The_outage_is_the_longest_gap_between_acknowledgements_from_the_last_one_before_the_fault()
    {
        var acks = new[] { 1.0, 2.0, 6.5, 7.0, 7.2 }.Select(TimeSpan.FromSeconds).ToList();

        Assert.Equal(TimeSpan.FromSeconds(4.5), FaultSummary.LongestGap(acks, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(7.2)));
        Assert.Equal(TimeSpan.FromSeconds(3), FaultSummary.LongestGap([], TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(6)));
    }
}

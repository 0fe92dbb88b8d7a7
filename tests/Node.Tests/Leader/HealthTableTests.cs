using PgRaft.Node.Cluster;
using PgRaft.Node.Leader;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Tests.Leader;

public sealed class HealthTableTests
{
    private static readonly ClusterState State = ClusterState.Empty with { View = ClusterView.Empty with { Generation = 4, Primary = "node1" } };
    private static readonly TimeSpan FailTimeout = State.Spec.FailTimeout;

    private static KeeperReport Report(string id, PgRole role, TimeSpan receivedAt, TimeSpan? observedAt, string lsn) => new()
    {
        NodeId = id,
        ReceivedAt = receivedAt,
        ObservedAt = observedAt,
        PostgresRunning = true,
        Healthy = true,
        Role = role,
        Timeline = 1,
        FlushLsn = role == PgRole.Primary ? Lsn.Parse(lsn) : null,
        ReceiveLsn = role == PgRole.Standby ? Lsn.Parse(lsn) : null,
        ReplayLsn = role == PgRole.Standby ? Lsn.Parse(lsn) : null,
    };

    [Fact]
    public void A_new_leaders_undated_first_report_counts_by_its_arrival_until_the_fail_timeout()
    {
        // Right after a leader change the primary's first report echoes the old leader's clock: no stamp yet.
        var arrived = TimeSpan.FromSeconds(10);
        var reports = ReportTable.Empty.With(Report("node1", PgRole.Primary, arrived, null, "0/5000100"));

        var justAfter = Assert.Single(HealthTable.From(reports, State, arrived + TimeSpan.FromMilliseconds(50)));
        Assert.True(justAfter.Running, "the newest news of the primary says it runs; the proxies must not cut its clients");

        var silent = Assert.Single(HealthTable.From(reports, State, arrived + FailTimeout));
        Assert.False(silent.Running, "an undated report older than failTimeout is as stale as a dated one");
    }

    [Fact]
    public void A_dated_report_counts_by_when_it_was_observed_not_when_it_arrived()
    {
        // Delayed in the network: observed 0.9 s before it arrived.
        var arrived = TimeSpan.FromSeconds(10);
        var reports = ReportTable.Empty.With(Report("node1", PgRole.Primary, arrived, arrived - TimeSpan.FromMilliseconds(900), "0/5000100"));

        Assert.True(Assert.Single(HealthTable.From(reports, State, arrived)).Running);
        Assert.False(Assert.Single(HealthTable.From(reports, State, arrived + TimeSpan.FromMilliseconds(150))).Running);
    }

    [Fact]
    public void Standby_lag_is_measured_from_the_primarys_position()
    {
        var now = TimeSpan.FromSeconds(10);
        var reports = ReportTable.Empty
            .With(Report("node1", PgRole.Primary, now, now, "0/5000100"))
            .With(Report("node2", PgRole.Standby, now, now, "0/5000000"));

        var table = HealthTable.From(reports, State, now).ToDictionary(h => h.NodeId);
        Assert.Equal(0, table["node1"].LagBytes);
        Assert.Equal(0x100, table["node2"].LagBytes);
    }
}

using System.Collections.Immutable;
using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Cluster;

namespace PgRaft.Node.Tests.Sentinel;

/// <summary>Hand-built sentinel situations for example tests: three nodes, node1 primary, times in seconds of the leader's clock.</summary>
internal sealed class Scenario
{
    public const ulong SystemId = 7_300_000_000_000_000_042UL;
    public static readonly DateTimeOffset Wall = new(2026, 11, 22, 1, 0, 0, TimeSpan.Zero);

    public ClusterState State { get; set; }
    public ReportTable Reports { get; set; } = ReportTable.Empty;
    public LeaseTable Leases { get; set; } = LeaseTable.StartTerm(S(90));
    public TimeSpan Now { get; set; } = S(100);

    public Scenario(ReplicationMode mode, params (string Id, MemberTags Tags)[] members)
    {
        var list = members.Length > 0 ? members : [("node1", MemberTags.None), ("node2", MemberTags.None), ("node3", MemberTags.None)];
        var map = list.ToImmutableSortedDictionary(m => m.Id, m => Fixtures.Member(m.Id, m.Tags), StringComparer.Ordinal);
        State = ClusterState.Empty with
        {
            // The example tests read their times against these timings, not whatever the defaults become.
            Spec = ClusterSpec.Default with
            {
                Mode = mode,
                FailTimeout = TimeSpan.FromMilliseconds(1500),
                LeaseTimeout = TimeSpan.FromMilliseconds(2000),
                DriftMargin = TimeSpan.FromMilliseconds(100),
                FenceMargin = TimeSpan.FromMilliseconds(500),
            },
            Members = map,
            View = new ClusterView(3, "node1", SyncConfig.Async, SyncConfig.Async,
                map.Keys.Where(k => k != "node1").ToImmutableSortedDictionary(k => k, _ => "node1", StringComparer.Ordinal)),
            Bootstrap = new BootstrapRecord("node1", SystemId, true),
        };
    }

    public static TimeSpan S(double seconds) => TimeSpan.FromMilliseconds(Math.Round(seconds * 1000));

    public Scenario WithSync(SyncConfig sync, SyncConfig? written = null)
    {
        State = State with { View = State.View with { Sync = sync, PrimarySync = written ?? sync } };
        return this;
    }

    public Scenario Primary(double at, string lsn, SyncConfig? applied = null, string id = "node1", bool healthy = true, long? stoppedFor = null)
    {
        Reports = Reports.With(new KeeperReport
        {
            NodeId = id,
            ReceivedAt = S(at),
            ObservedAt = S(at),
            PostgresRunning = healthy && stoppedFor is null,
            Healthy = healthy && stoppedFor is null,
            Role = PgRole.Primary,
            SystemIdentifier = SystemId,
            Timeline = 1,
            FlushLsn = Lsn.Parse(lsn),
            AppliedSync = applied ?? State.View.PrimarySync,
            AppliedGeneration = State.View.Generation,
            StoppedForSwitchover = stoppedFor,
            Error = healthy ? null : "could not connect to PostgreSQL",
        });
        return this;
    }

    public Scenario Standby(string id, double at, string lsn, bool healthy = true, string upstream = "node1", int timeline = 1)
    {
        Reports = Reports.With(new KeeperReport
        {
            NodeId = id,
            ReceivedAt = S(at),
            ObservedAt = S(at),
            PostgresRunning = healthy,
            Healthy = healthy,
            Role = PgRole.Standby,
            SystemIdentifier = SystemId,
            Timeline = timeline,
            ReceiveLsn = Lsn.Parse(lsn),
            ReplayLsn = Lsn.Parse(lsn),
            Upstream = upstream,
            AppliedGeneration = State.View.Generation,
        });
        return this;
    }

    public Scenario Grant(double at, string id = "node1")
    {
        Leases = Leases.WithGrant(id, S(at));
        return this;
    }

    public SentinelInput Input => new(State, Reports, Now, Leases, Wall);

    public SentinelDecision Decide() => SentinelRules.Decide(Input);

    /// <summary>Decides, checks the decision with the safety oracle, and applies its command (which must be accepted).</summary>
    public SentinelDecision Step()
    {
        var decision = Decide();
        Assert.Empty(SafetyOracle.Violations(Input, decision));
        if (decision.Command is { } command)
        {
            var (next, result) = ClusterStateApplier.Apply(State, command);
            Assert.True(result.Outcome != CommandOutcome.Rejected, result.Message);
            State = next;
        }

        return decision;
    }
}

using System.Collections.Immutable;
using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Tests.Sentinel;

/// <summary>
/// Random but plausible sentinel inputs, built deterministically from a seed: members with random tags, modes,
/// committed and written sync sets, report ages, roles, health, system identifiers, timelines, WAL positions,
/// keeper-applied sync sets, pending switchovers, term starts and lease grants.
/// </summary>
internal static class SentinelScenario
{
    public const ulong SystemId = 7_300_000_000_000_000_042UL;
    public static readonly TimeSpan Now = TimeSpan.FromSeconds(100);
    public static readonly DateTimeOffset Wall = new(2026, 11, 22, 1, 0, 0, TimeSpan.Zero);
    private const ulong Base = 0x5000000;

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(Math.Round(ms));

    private static List<string> SubsetOf(Random random, IEnumerable<string> items) => items.Where(_ => random.Next(2) == 0).ToList();

    public static SentinelInput Build(int seed)
    {
        var random = new Random(seed);
        var n = random.Next(1, 6);
        var ids = Enumerable.Range(1, n).Select(i => $"n{i}").ToList();
        var members = ImmutableSortedDictionary.CreateBuilder<string, Member>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            var from = random.Next(10) == 0 ? ids[random.Next(n)] : null;
            members[id] = new Member(id, $"{id}:7432", $"{id}:5433", $"{id}:5432", $"{id}:8008", new MemberTags
            {
                NoFailover = random.Next(5) == 0,
                NoSync = random.Next(7) == 0,
                Priority = random.Next(3),
                ReplicateFrom = from == id ? null : from,
            });
        }

        var spec = new ClusterSpec
        {
            Mode = (ReplicationMode)random.Next(3),
            SyncStandbyCount = random.Next(1, 4),
            MaxLagOnFailover = new long[] { 0, 4096, 1 << 20, 64 << 20 }[random.Next(4)],
            Paused = random.Next(7) == 0,
            // The generator's report and grant ages are spread around these timings.
            FailTimeout = TimeSpan.FromMilliseconds(1500),
            LeaseTimeout = TimeSpan.FromMilliseconds(2000),
            FenceMargin = TimeSpan.FromMilliseconds(500),
        };

        var primary = random.Next(14) == 0 ? null : ids[random.Next(n)];
        var bootstrapped = primary is not null && random.Next(10) != 0;
        var state = ClusterState.Empty with { Spec = spec, Members = members.ToImmutable() };
        if (primary is not null)
        {
            var others = ids.Where(id => id != primary).ToList();
            var bound = random.Next(4) == 0 ? SyncConfig.Async : RandomConfig(random, others, 0);
            SyncConfig written;
            if (random.Next(2) == 0)
            {
                written = bound;
            }
            else if (bound.Quorum == 0)
            {
                written = RandomConfig(random, bound.Standbys, 0);
            }
            else
            {
                var subset = SubsetOf(random, bound.Standbys);
                written = subset.Count >= bound.Quorum
                    ? SyncConfig.Of(random.Next(bound.Quorum, subset.Count + 1), subset)
                    : bound;
            }

            var generation = random.Next(1, 20);
            var view = new ClusterView(generation, primary, bound, written,
                random.Next(3) == 0 ? ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal) : UpstreamPlanner.Desired(state, primary));
            PendingSwitchover? switchover = null;
            if (bootstrapped && random.Next(5) == 0)
            {
                var phase = (SwitchoverPhase)random.Next(2);
                switchover = new PendingSwitchover(
                    primary,
                    random.Next(2) == 0 || others.Count == 0 ? null : others[random.Next(others.Count)],
                    random.Next(8) == 0 ? generation - 1 : generation,
                    phase,
                    phase == SwitchoverPhase.CatchingUp ? new Lsn(Base + (ulong)random.Next(0, 1 << 16)) : null,
                    phase == SwitchoverPhase.CatchingUp ? (random.Next(5) == 0 ? 2 : 1) : null,
                    Wall - TimeSpan.FromSeconds(random.Next(0, 40)),
                    phase == SwitchoverPhase.CatchingUp ? Wall - TimeSpan.FromMilliseconds(random.Next(0, 1700)) : null);
            }

            state = state with
            {
                View = view,
                Bootstrap = bootstrapped ? new BootstrapRecord(primary, SystemId, true) : null,
                Switchover = switchover,
            };
        }

        var termStart = Now - Ms(random.Next(0, 12_000));
        var primaryFlush = Base + (ulong)random.Next(0, 4 << 20);
        var reports = ReportTable.Empty;
        foreach (var id in ids)
        {
            if (random.Next(8) == 0)
            {
                continue;
            }

            var isPrimary = id == primary;
            var role = isPrimary
                ? (random.Next(8) == 0 ? PgRole.Standby : PgRole.Primary)
                : random.Next(10) switch { 0 => PgRole.Uninitialized, 1 => PgRole.Primary, _ => PgRole.Standby };
            var running = random.Next(6) != 0;
            var stopped = isPrimary && state.Switchover is { } sw && random.Next(2) == 0
                ? (random.Next(6) == 0 ? sw.Generation - 1 : sw.Generation)
                : (long?)null;
            if (stopped is not null && random.Next(5) != 0)
            {
                running = false;
            }

            var healthy = running && random.Next(7) != 0;
            var receive = primaryFlush - Math.Min(primaryFlush - Base, (ulong)random.Next(0, 3 << 20));
            var receivedAt = Now - Ms(random.NextDouble() * 4000);
            var other = ids[random.Next(n)];
            var report = new KeeperReport
            {
                NodeId = id,
                ReceivedAt = receivedAt,

                // Now and then a report that echoed no reading of this leader's clock (sent before its first ack).
                ObservedAt = random.Next(12) == 0 ? null : receivedAt - Ms(random.Next(0, 300)),
                PostgresRunning = running,
                Role = role,
                SystemIdentifier = role == PgRole.Uninitialized ? null : random.Next(10) == 0 ? 99UL : SystemId,
                Timeline = random.Next(7) == 0 ? 2 : 1,
                FlushLsn = role == PgRole.Primary ? new Lsn(isPrimary ? primaryFlush : receive) : null,
                ReceiveLsn = role == PgRole.Standby && random.Next(12) != 0 ? new Lsn(receive) : null,
                ReplayLsn = role == PgRole.Standby ? new Lsn(receive - Math.Min(receive, (ulong)random.Next(0, 1 << 16))) : null,
                Upstream = role == PgRole.Standby ? (random.Next(8) == 0 ? other : primary) : null,
                AppliedSync = isPrimary
                    ? random.Next(3) switch { 0 => state.View.PrimarySync, 1 => state.View.Sync, _ => RandomConfig(random, ids.Where(x => x != id), 0) }
                    : null,
                AppliedSyncLsn = isPrimary && random.Next(2) == 0 ? new Lsn(primaryFlush - (ulong)random.Next(0, 1 << 20)) : null,
                AppliedGeneration = state.View.Generation - random.Next(2),
                StoppedForSwitchover = stopped,
                Healthy = healthy,
                Error = healthy ? null : "connection refused",
            };
            if (!healthy && random.Next(2) == 0)
            {
                // It was healthy a while before this report.
                var earlier = Ms(random.Next(0, 3000));
                reports = reports.With(report with { ReceivedAt = receivedAt - earlier, ObservedAt = report.ObservedAt - earlier, Healthy = true, PostgresRunning = true, Error = null });
            }

            reports = reports.With(report);
        }

        var leases = LeaseTable.StartTerm(termStart);
        if (primary is not null && random.Next(10) < 7)
        {
            leases = leases.WithGrant(primary, termStart + Ms(random.NextDouble() * (Now - termStart).TotalMilliseconds));
        }

        return new SentinelInput(state, reports, Now, leases, Wall);
    }

    private static SyncConfig RandomConfig(Random random, IEnumerable<string> candidates, int minQuorum)
    {
        var set = SubsetOf(random, candidates);
        return set.Count == 0 ? SyncConfig.Async : SyncConfig.Of(random.Next(minQuorum, set.Count + 1), set);
    }
}

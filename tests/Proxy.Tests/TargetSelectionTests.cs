using FsCheck;
using FsCheck.Fluent;
using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Routing;

namespace PgRaft.Proxy.Tests;

public sealed class TargetSelectionTests
{
    private const long MaxLag = 1000;

    [Fact]
    public void Read_only_choice_is_an_eligible_standby_with_fewest_connections_else_the_allowed_primary()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var snapshot = RandomSnapshot(random);
            var counts = snapshot.Standbys.Select(s => s.Endpoint).Distinct().ToDictionary(e => e, _ => random.Next(5));
            var route = TargetSelection.Choose(ProxyRole.ReadOnly, snapshot, MaxLag, e => counts.GetValueOrDefault(e), random.Next());

            var eligible = snapshot.Standbys.Where(s => s.Healthy && !s.NoLoadBalance && s.LagBytes <= MaxLag && s.LagBytes >= 0).ToList();
            if (eligible.Count > 0)
            {
                Assert.NotNull(route);
                Assert.False(route.Value.ViaFallback);
                Assert.Contains(eligible, s => s.Endpoint == route.Value.Target);
                Assert.Equal(eligible.Min(s => counts[s.Endpoint]), counts[route.Value.Target]);
            }
            else if (snapshot.FallbackToPrimary && snapshot.InContactWithMajority && snapshot.Primary is { } primary)
            {
                Assert.Equal(new ProxyRoute(primary, true), route);
            }
            else
            {
                Assert.Null(route);
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Read_write_choice_is_the_primary_only_with_a_majority_and_connections_stay_only_there()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var snapshot = RandomSnapshot(random);
            var route = TargetSelection.Choose(ProxyRole.ReadWrite, snapshot, MaxLag, _ => 0, 0);
            Assert.Equal(snapshot.InContactWithMajority && snapshot.Primary is not null ? new ProxyRoute(snapshot.Primary.Value, false) : null, route);

            var somewhere = new ProxyRoute(Endpoint(random.Next(4)), false);
            Assert.Equal(snapshot.InContactWithMajority && snapshot.Primary == somewhere.Target, TargetSelection.MayStay(ProxyRole.ReadWrite, snapshot, somewhere));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Read_only_connections_stay_while_their_standby_is_listed_and_healthy_whatever_its_lag()
    {
        var standby = new StandbyCandidate("s", Endpoint(1), true, 0, false);
        var route = new ProxyRoute(standby.Endpoint, false);
        var snapshot = new ProxyRoutingSnapshot(Endpoint(0), true, [standby], false);

        Assert.True(TargetSelection.MayStay(ProxyRole.ReadOnly, snapshot, route));
        Assert.True(TargetSelection.MayStay(ProxyRole.ReadOnly, snapshot with { Standbys = [standby with { LagBytes = MaxLag * 100 }] }, route));
        Assert.False(TargetSelection.MayStay(ProxyRole.ReadOnly, snapshot with { Standbys = [standby with { Healthy = false }] }, route));
        Assert.False(TargetSelection.MayStay(ProxyRole.ReadOnly, snapshot with { Standbys = [] }, route));
    }

    private static ProxyRoutingSnapshot RandomSnapshot(Random random)
    {
        var standbys = Enumerable.Range(0, random.Next(6))
            .Select(i => new StandbyCandidate($"m{i}", Endpoint(random.Next(1, 5)), random.Next(4) > 0, random.Next(3) switch { 0 => 0, 1 => random.Next(2 * (int)MaxLag), _ => MaxLag }, random.Next(5) == 0))
            .ToList();
        return new ProxyRoutingSnapshot(random.Next(4) == 0 ? null : Endpoint(random.Next(4)), random.Next(4) > 0, standbys, random.Next(2) == 0);
    }

    private static ProxyEndpoint Endpoint(int index) => new("10.0.0." + index, 5433);
}

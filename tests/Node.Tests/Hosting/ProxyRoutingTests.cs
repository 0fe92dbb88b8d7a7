using System.Collections.Immutable;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Hosting;
using PgRaft.Node.Sentinel;
using PgRaft.Node.Tests.Cluster;
using PgRaft.Proxy.Routing;

namespace PgRaft.Node.Tests.Hosting;

public sealed class ProxyRoutingTests
{
    private static ClusterState State(ClusterSpec spec)
    {
        var members = new[] { "node1", "node2" }.ToImmutableSortedDictionary(id => id, id => Fixtures.Member(id), StringComparer.Ordinal);
        return ClusterState.Empty with
        {
            Spec = spec,
            Members = members,
            View = new ClusterView(2, "node1", SyncConfig.Async, SyncConfig.Async, ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal).Add("node2", "node1")),
        };
    }

    private static readonly NodeHealth[] Health =
    [
        new("node1", true, PgRole.Primary, true, 0, null, 0.1),
        new("node2", true, PgRole.Standby, true, 4096, null, 0.1),
    ];

    [Fact]
    public void The_spec_timings_the_proxy_applies_travel_with_the_routing_so_edits_take_effect_at_once()
    {
        var spec = ClusterSpec.Default with { ProxyHoldTimeout = TimeSpan.FromSeconds(3), MaxReplicaLag = 1024, ReadOnlyFallbackToPrimary = false };

        var routing = ProxyRouting.Compute(State(spec), true, Health);

        Assert.Equal(TimeSpan.FromSeconds(3), routing.HoldTimeout);
        Assert.Equal(1024, routing.MaxReplicaLagBytes);
        Assert.False(routing.FallbackToPrimary);
        Assert.Equal(ProxyEndpoint.Parse(Fixtures.Member("node1").PostgresAddress), routing.ReadWriteTarget);

        var edited = ProxyRouting.Compute(State(spec with { ProxyHoldTimeout = TimeSpan.FromSeconds(20) }), true, Health);
        Assert.False(ProxyRouting.SameRouting(routing, edited));
        Assert.True(ProxyRouting.SameRouting(routing, ProxyRouting.Compute(State(spec), true, Health)));
    }

    [Fact]
    public void A_primary_the_leader_sees_down_is_not_routed_to_and_contact_loss_routes_nowhere()
    {
        var down = Health.Select(h => h.NodeId == "node1" ? h with { Running = false } : h).ToList();
        Assert.Null(ProxyRouting.Compute(State(ClusterSpec.Default), true, down).Primary);
        Assert.Null(ProxyRouting.Compute(State(ClusterSpec.Default), false, Health).ReadWriteTarget);
    }
}

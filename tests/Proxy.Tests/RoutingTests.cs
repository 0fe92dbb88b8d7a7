using Npgsql;
using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Routing;
using PgRaft.Proxy.Tests.Fixtures;

namespace PgRaft.Proxy.Tests;

/// <summary>Where the proxy sends clients, and what it does when that changes: with real servers behind it.</summary>
[Collection(PostgresCollection.Name)]
public sealed class RoutingTests(PostgresCluster cluster)
{
    [Fact]
    public async Task A_new_primary_cuts_connections_to_the_old_one_and_takes_new_clients()
    {
        var (oldPrimary, newPrimary) = (cluster.Servers[0], cluster.Servers[1]);
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(oldPrimary.Port));
        await using var before = await oldPrimary.OpenAsync(proxy.Port);
        Assert.Equal(oldPrimary.Port, await ServerPort(before));

        proxy.Routing.Publish(ProxyHarness.PrimaryAt(newPrimary.Port));

        await AssertConnectionBroken(before);
        await using var after = await newPrimary.OpenAsync(proxy.Port);
        Assert.Equal(newPrimary.Port, await ServerPort(after));
        Assert.Equal(1, proxy.Listener.Counters.Cut);
    }

    [Fact]
    public async Task Losing_the_majority_cuts_connections_and_holds_new_clients_until_it_returns()
    {
        var primary = cluster.Primary;
        var routed = ProxyHarness.PrimaryAt(primary.Port);
        await using var proxy = ProxyHarness.Start(routed, holdTimeout: TimeSpan.FromSeconds(20));
        await using var before = await primary.OpenAsync(proxy.Port);

        proxy.Routing.Publish(routed with { InContactWithMajority = false });
        await AssertConnectionBroken(before);

        var held = primary.OpenAsync(proxy.Port);
        await WaitUntil(() => proxy.Listener.Counters.Held == 1);
        Assert.False(held.IsCompleted);
        proxy.Routing.Publish(routed);

        await using var after = await held.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(primary.Port, await ServerPort(after));
    }

    [Fact]
    public async Task A_held_client_goes_through_when_a_primary_appears()
    {
        var primary = cluster.Servers[2];
        await using var proxy = ProxyHarness.Start(ProxyRoutingSnapshot.Nothing with { InContactWithMajority = true }, holdTimeout: TimeSpan.FromSeconds(20));

        var held = primary.OpenAsync(proxy.Port);
        await WaitUntil(() => proxy.Listener.Counters.Held == 1);
        Assert.False(held.IsCompleted);
        proxy.Routing.Publish(ProxyHarness.PrimaryAt(primary.Port));

        await using var connection = await held.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(primary.Port, await ServerPort(connection));
        Assert.Equal(0, proxy.Listener.Counters.HoldTimeouts);
    }

    [Fact]
    public async Task A_held_client_is_closed_cleanly_when_no_primary_appears_in_time()
    {
        await using var proxy = ProxyHarness.Start(ProxyRoutingSnapshot.Nothing, holdTimeout: TimeSpan.FromMilliseconds(300));

        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => cluster.Primary.OpenAsync(proxy.Port));

        Assert.IsNotType<PostgresException>(error);
        Assert.Equal(1, proxy.Listener.Counters.Held);
        Assert.Equal(1, proxy.Listener.Counters.HoldTimeouts);
        Assert.Equal(0, proxy.Listener.Counters.Active);
    }

    [Fact]
    public async Task The_routing_sources_hold_timeout_replaces_the_configured_one()
    {
        // The node publishes the cluster spec's proxyHoldTimeout with every routing, so edit-config takes effect at once.
        await using var proxy = ProxyHarness.Start(ProxyRoutingSnapshot.Nothing with { HoldTimeout = TimeSpan.FromMilliseconds(300) }, holdTimeout: TimeSpan.FromSeconds(30));
        var clock = System.Diagnostics.Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<NpgsqlException>(() => cluster.Primary.OpenAsync(proxy.Port));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"held {clock.Elapsed.TotalSeconds:F1} s: the configured 30 s applied, not the routing's 0.3 s");
        Assert.Equal(1, proxy.Listener.Counters.HoldTimeouts);
    }

    [Fact]
    public async Task Beyond_the_connection_limit_a_client_is_refused_and_the_others_keep_working()
    {
        var primary = cluster.Primary;
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(primary.Port), maxConnections: 2);
        await using var first = await primary.OpenAsync(proxy.Port);
        await using var second = await primary.OpenAsync(proxy.Port);

        await Assert.ThrowsAnyAsync<NpgsqlException>(() => primary.OpenAsync(proxy.Port));

        Assert.Equal(primary.Port, await ServerPort(first));
        Assert.Equal(primary.Port, await ServerPort(second));
        Assert.Equal(1, proxy.Listener.Counters.Refused);
        Assert.Equal(2, proxy.Listener.Counters.Active);
    }

    [Fact]
    public async Task An_unreachable_primary_holds_the_client_then_closes_it_cleanly_at_the_hold_timeout()
    {
        var closedPort = TestPorts.Next();
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(closedPort), holdTimeout: TimeSpan.FromMilliseconds(1500));

        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => cluster.Primary.OpenAsync(proxy.Port));

        Assert.IsNotType<PostgresException>(error);
        Assert.True(proxy.Listener.Counters.ConnectFailures >= 2, $"retried while held: {proxy.Listener.Counters.ConnectFailures} attempts");
        Assert.Equal(1, proxy.Listener.Counters.Held);
        Assert.Equal(1, proxy.Listener.Counters.HoldTimeouts);
        Assert.Equal(0, proxy.Listener.Counters.Active);
    }

    [Fact]
    public async Task A_client_refused_by_the_old_primary_is_held_and_reaches_the_new_one()
    {
        // A failover as the read-write port sees it: the named primary refuses (stopped), then the routing names another.
        var closedPort = TestPorts.Next();
        var primary = cluster.Servers[1];
        await using var proxy = ProxyHarness.Start(ProxyHarness.PrimaryAt(closedPort), holdTimeout: TimeSpan.FromSeconds(20));

        var held = primary.OpenAsync(proxy.Port);
        await WaitUntil(() => proxy.Listener.Counters.ConnectFailures >= 1 && proxy.Listener.Counters.Held == 1);
        Assert.False(held.IsCompleted);
        proxy.Routing.Publish(ProxyHarness.PrimaryAt(primary.Port));

        await using var connection = await held.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(primary.Port, await ServerPort(connection));
        Assert.Equal(0, proxy.Listener.Counters.HoldTimeouts);
    }

    [Fact]
    public async Task The_read_only_port_closes_a_client_whose_standby_is_unreachable()
    {
        var closedPort = TestPorts.Next();
        var routing = ProxyRoutingSnapshot.Nothing with
        {
            InContactWithMajority = true,
            Standbys = [new StandbyCandidate("gone", new ProxyEndpoint("127.0.0.1", closedPort), true, 0, false)],
        };
        await using var proxy = ProxyHarness.Start(routing, role: ProxyRole.ReadOnly, holdTimeout: TimeSpan.FromSeconds(20));

        await Assert.ThrowsAnyAsync<NpgsqlException>(() => cluster.Primary.OpenAsync(proxy.Port)).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, proxy.Listener.Counters.ConnectFailures);
        Assert.Equal(0, proxy.Listener.Counters.HoldTimeouts);
    }

    [Fact]
    public async Task The_read_only_port_spreads_over_qualifying_standbys_only()
    {
        var (a, b, c) = (cluster.Servers[0], cluster.Servers[1], cluster.Servers[2]);
        var unhealthyPort = TestPorts.Next();
        var snapshot = new ProxyRoutingSnapshot(
            new ProxyEndpoint("127.0.0.1", a.Port),
            true,
            [
                ProxyHarness.Standby(b.Port, lag: 1000),
                ProxyHarness.Standby(c.Port, lag: 0),
                ProxyHarness.Standby(a.Port, lag: 50L * 1024 * 1024),
                ProxyHarness.Standby(unhealthyPort, healthy: false),
            ],
            FallbackToPrimary: true);
        await using var proxy = ProxyHarness.Start(snapshot, role: ProxyRole.ReadOnly);

        var connections = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                connections.Add(await a.OpenAsync(proxy.Port));
            }

            var ports = new List<int>();
            foreach (var connection in connections)
            {
                ports.Add(await ServerPort(connection));
            }

            // Fewest connections first: exactly even over the two qualifying standbys; never the lagging one.
            Assert.Equal(4, ports.Count(p => p == b.Port));
            Assert.Equal(4, ports.Count(p => p == c.Port));
            Assert.DoesNotContain(a.Port, ports);

            // The tagged member gets nothing new; its lag growing does not cut what it has.
            proxy.Routing.Publish(snapshot with
            {
                Standbys = [ProxyHarness.Standby(b.Port, lag: 10L * 1024 * 1024 * 1024), ProxyHarness.Standby(c.Port, noLoadBalance: true)],
            });
            await using var fallback = await a.OpenAsync(proxy.Port);
            Assert.Equal(a.Port, await ServerPort(fallback));
            foreach (var connection in connections)
            {
                Assert.Contains(await ServerPort(connection), new[] { b.Port, c.Port });
            }

            // A standby that leaves the list loses its connections.
            proxy.Routing.Publish(snapshot with { Standbys = [ProxyHarness.Standby(c.Port)] });
            await WaitUntil(() => proxy.Listener.Counters.Cut == 4);

            var survivors = 0;
            foreach (var connection in connections)
            {
                try
                {
                    Assert.Equal(c.Port, await ServerPort(connection));
                    survivors++;
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
                {
                    // Cut: it was on b.
                }
            }

            Assert.Equal(4, survivors);
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task The_read_only_port_holds_without_fallback_and_uses_the_primary_with_it()
    {
        var primary = cluster.Primary;
        var noStandby = new ProxyRoutingSnapshot(new ProxyEndpoint("127.0.0.1", primary.Port), true, [ProxyHarness.Standby(cluster.Servers[1].Port, lag: 5L * 1024 * 1024)], FallbackToPrimary: false);
        await using var proxy = ProxyHarness.Start(noStandby, role: ProxyRole.ReadOnly, holdTimeout: TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<NpgsqlException>(() => primary.OpenAsync(proxy.Port));
        Assert.Equal(1, proxy.Listener.Counters.HoldTimeouts);

        proxy.Routing.Publish(noStandby with { FallbackToPrimary = true });
        await using var connection = await primary.OpenAsync(proxy.Port);
        Assert.Equal(primary.Port, await ServerPort(connection));

        // Fallback withdrawn: the connection on the primary is cut.
        proxy.Routing.Publish(noStandby);
        await AssertConnectionBroken(connection);
    }

    internal static async Task<int> ServerPort(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("select current_setting('port')::int", connection);
        return (int)(await command.ExecuteScalarAsync())!;
    }

    private static async Task AssertConnectionBroken(NpgsqlConnection connection)
    {
        // The cut happens on the routing watcher right after the publish; allow it a moment.
        for (var attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                await using var command = new NpgsqlCommand("select 1", connection);
                await command.ExecuteScalarAsync();
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail("The connection to the old target still works.");
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition(), "The condition did not become true within 10 s.");
    }
}

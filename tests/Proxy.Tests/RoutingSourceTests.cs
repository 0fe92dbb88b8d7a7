using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Routing;

namespace PgRaft.Proxy.Tests;

public sealed class RoutingSourceTests
{
    [Fact]
    public async Task A_waiter_wakes_on_publish_and_not_before()
    {
        var publisher = new ProxyRoutingPublisher();
        var known = publisher.Current.Version;
        var waiting = publisher.WaitForChangeAsync(known, CancellationToken.None);
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);

        var published = publisher.Publish(new ProxyRoutingSnapshot(new ProxyEndpoint("127.0.0.1", 5433), true, [], false));

        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(known + 1, published.Version);
        Assert.Same(published, publisher.Current);
        Assert.True(publisher.WaitForChangeAsync(known, CancellationToken.None).IsCompleted);
    }

    [Fact]
    public async Task Waiting_honours_cancellation()
    {
        var publisher = new ProxyRoutingPublisher();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => publisher.WaitForChangeAsync(publisher.Current.Version, cancel.Token));
    }

    [Theory]
    [InlineData("127.0.0.1:5432", "127.0.0.1", 5432)]
    [InlineData("db-1.example:6543", "db-1.example", 6543)]
    [InlineData("[::1]:5433", "::1", 5433)]
    public void Endpoints_parse(string text, string host, int port)
    {
        Assert.Equal(new ProxyEndpoint(host, port), ProxyEndpoint.Parse(text));
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("host:0")]
    [InlineData("host:70000")]
    [InlineData(":5432")]
    public void Bad_endpoints_are_refused_with_a_message(string text)
    {
        var error = Assert.Throws<FormatException>(() => ProxyEndpoint.Parse(text));
        Assert.Contains("host:port", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_options_name_the_setting()
    {
        var options = new ProxyListenerOptions { Role = ProxyRole.ReadWrite, Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1), MaxConnections = 0 };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("MaxConnections", error.Message, StringComparison.Ordinal);
    }
}

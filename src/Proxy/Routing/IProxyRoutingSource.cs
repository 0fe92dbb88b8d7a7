namespace PgRaft.Proxy.Routing;

/// <summary>
/// Tells the proxy where to send clients. The node implements it from its applied cluster
/// view (or uses <see cref="ProxyRoutingPublisher"/>); the proxy knows nothing else.
/// </summary>
internal interface IProxyRoutingSource
{
    /// <summary>The routing in force now.</summary>
    ProxyRoutingSnapshot Current { get; }

    /// <summary>Completes as soon as <see cref="Current"/> has a version other than <paramref name="knownVersion"/>.</summary>
    Task WaitForChangeAsync(long knownVersion, CancellationToken cancellationToken);
}

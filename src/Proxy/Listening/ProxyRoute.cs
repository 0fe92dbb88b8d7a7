using PgRaft.Proxy.Routing;

namespace PgRaft.Proxy.Listening;

/// <summary>Where one client connection goes, and why.</summary>
/// <param name="Target">The backend.</param>
/// <param name="ViaFallback">A read-only client sent to the primary because no standby qualified.</param>
internal readonly record struct ProxyRoute(ProxyEndpoint Target, bool ViaFallback);

namespace PgRaft.Proxy.Tests.Fixtures;

/// <summary>
/// Three independent PostgreSQL servers shared by the tests of the "postgres" collection: one
/// plays the primary, all three can stand in as standbys (the proxy takes lag and health from
/// its routing source, never from the servers).
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    private readonly string _templateDirectory = Path.Combine(Path.GetTempPath(), "pgraft-proxy-template-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly List<PostgresServer> _servers = [];

    internal IReadOnlyList<PostgresServer> Servers => _servers;

    internal PostgresServer Primary => _servers[0];

    public async Task InitializeAsync()
    {
        var template = await PostgresServer.InitTemplateAsync(_templateDirectory);
        var started = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => PostgresServer.StartFromTemplateAsync(template)));
        _servers.AddRange(started);
    }

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }

        PostgresServer.TryDelete(_templateDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresCluster>
{
    public const string Name = "postgres";
}

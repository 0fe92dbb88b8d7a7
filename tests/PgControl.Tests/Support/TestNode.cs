using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Instance;

namespace PgRaft.PgControl.Tests.Support;

/// <summary>One PostgresInstance in a test's temp directory; disposing it kills whatever it started.</summary>
internal sealed class TestNode : IAsyncDisposable
{
    private TestNode(PostgresInstance instance, int port, string name)
    {
        Instance = instance;
        Port = port;
        Name = name;
    }

    public PostgresInstance Instance { get; }
    public int Port { get; }
    public string Name { get; }
    public string DataDirectory => Instance.DataDirectory;
    public UpstreamServer AsUpstream(string? slot = null) => new("127.0.0.1", Port, slot);

    /// <summary>A node whose data directory does not exist yet (to init or clone into).</summary>
    public static TestNode Empty(TempDirectory directory, string name, bool noLeaseRequired = true, Func<PostgresOptions, PostgresOptions>? adjust = null)
    {
        var passwords = directory.WritePasswordFiles();
        var port = TestEnvironment.FreePort();
        var options = TestEnvironment.Options(Path.Combine(directory.Path, name), port, passwords, name, noLeaseRequired);
        options = adjust?.Invoke(options) ?? options;
        return new TestNode(new PostgresInstance(options), port, name);
    }

    /// <summary>A node with a copy of the template data directory and the fast test settings.</summary>
    public static async Task<TestNode> FromTemplateAsync(TempDirectory directory, string name, bool noLeaseRequired = true, IReadOnlyDictionary<string, string>? parameters = null)
    {
        var node = Empty(directory, name, noLeaseRequired);
        await TestEnvironment.CopyTemplateAsync(node.DataDirectory);
        await node.Instance.WriteConfigurationAsync(new PostgresConfiguration { Parameters = parameters ?? TestEnvironment.FastParameters }, CancellationToken.None);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Instance.DisposeAsync();
        }
        finally
        {
            TestEnvironment.KillLeftovers(DataDirectory);
        }
    }
}

using PgRaft.JepsenStyle.Harness;

namespace PgRaft.JepsenStyle.Workload;

/// <summary>
/// Several <see cref="InsertClient"/>s, client <c>c</c> entering through node <c>(c - 1) mod N + 1</c>'s read-write
/// proxy port, all writing to one <see cref="OperationLog"/>. Bounded by a count per client and by <see cref="StopAsync"/>.
/// </summary>
internal sealed class InsertWorkload(LabCluster cluster, OperationLog operations, RunLog log) : IAsyncDisposable
{
    public const string Table = "jepsen_writes";
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(20);
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly List<Task> _clients = [];

    /// <summary>The node whose proxy client <paramref name="client"/> enters through.</summary>
    public int EntryOf(int client) => (client - 1) % cluster.Nodes + 1;

    public IReadOnlyList<int> Clients { get; private set; } = [];

    /// <summary>No key constraint: a duplicate row would then show up in the check rather than be refused.</summary>
    public static string CreateTableSql => $"create table if not exists {Table} (client int not null, seq int not null)";

    public void Start(int clients, int maxOperationsPerClient)
    {
        Clients = Enumerable.Range(1, clients).ToList();
        foreach (var c in Clients)
        {
            // The proxy holds new clients up to 10 s while there is no primary; a command has no timeout of its own.
            var client = new InsertClient(c, cluster.ProxyConnectionString(EntryOf(c), commandTimeoutSeconds: 0), operations, log, cluster.Lab.NodeOf);
            _clients.Add(Task.Run(() => client.RunAsync(maxOperationsPerClient, Pause, _stop.Token, _abort.Token)));
        }

        log.Line($"workload: {clients} clients through the read-write ports of nodes {string.Join(",", Clients.Select(EntryOf))}, at most {maxOperationsPerClient} inserts each");
    }

    /// <summary>Lets every client finish its insert in flight (bounded), then stops them.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        var finished = Task.WhenAll(_clients);
        if (await Task.WhenAny(finished, Task.Delay(TimeSpan.FromSeconds(45))) != finished)
        {
            log.Line("workload: clients still in an insert 45 s after the stop; breaking their connections");
            await _abort.CancelAsync();
        }

        await finished;
    }

    public async ValueTask DisposeAsync()
    {
        await _abort.CancelAsync();
        await Task.WhenAll(_clients);
        _stop.Dispose();
        _abort.Dispose();
    }
}

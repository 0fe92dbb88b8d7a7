using System.Net.Http.Json;
using PgRaft.JepsenStyle.Lab;
using PgRaft.Node.Api;
using PgRaft.Node.Cli;
using PgRaft.Node.Cluster;

namespace PgRaft.JepsenStyle.Harness;

/// <summary>The nodes' HTTP API as an operator or a load balancer sees it.</summary>
internal sealed class ClusterApi(NetworkLab lab, string clusterSecret) : IDisposable
{
    public const int Port = 8008;

    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>True when the node answers 200 on <paramref name="path"/> within <paramref name="timeout"/>.</summary>
    public async Task<bool> OkAsync(int node, string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            using var response = await _http.GetAsync(Uri(node, path), limit.Token);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The node's applied cluster state; null when it does not answer.</summary>
    public async Task<ClusterState?> StateAsync(int node, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            return await _http.GetFromJsonAsync(Uri(node, "/cluster"), ApiJsonContext.Default.ClusterState, limit.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or System.Text.Json.JsonException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The Raft leader as the node last heard of it; null when it does not answer or knows none.</summary>
    public async Task<string?> RaftLeaderAsync(int node, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            var nodes = await _http.GetFromJsonAsync(Uri(node, "/cluster/nodes"), ApiJsonContext.Default.ClusterNodes, limit.Token);
            return nodes?.RaftLeader;
        }
        catch (Exception ex) when (ex is HttpRequestException or System.Text.Json.JsonException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Proposes a spec change through whichever member leads Raft, as the CLI does (signed with the cluster secret).</summary>
    public async Task<ProposeResponse?> PatchSpecAsync(ClusterState state, SpecPatch patch, CancellationToken cancellationToken)
    {
        var signer = new RequestSigner(clusterSecret, TimeProvider.System);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(10));
        return await ClusterCommands.ProposeAsync(_http, signer, state, new PatchSpec(patch), limit.Token);
    }

    public void Dispose() => _http.Dispose();

    private Uri Uri(int node, string path) => new($"http://{lab.NodeAddress(node)}:{Port}{path}");
}

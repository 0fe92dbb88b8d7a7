using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;
using PgRaft.Raft.Hosting;

namespace PgRaft.Node.Api;

/// <summary>Signed calls from this node to the Raft leader's API (keeper reports, lease renewals, forwarded proposals).</summary>
internal sealed class LeaderClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly RequestSigner _signer;

    public LeaderClient(RequestSigner signer)
    {
        _signer = signer;
        _http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromMilliseconds(500),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            UseProxy = false,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public Task<ReportAck> ReportAsync(string apiAddress, KeeperReport report, TimeSpan timeout, CancellationToken cancellationToken) =>
        PostAsync(apiAddress, "/internal/v1/report", report, ApiJsonContext.Default.KeeperReport, ApiJsonContext.Default.ReportAck, timeout, cancellationToken);

    public Task<LeaseResponse> RenewLeaseAsync(string apiAddress, LeaseRequest request, TimeSpan timeout, CancellationToken cancellationToken) =>
        PostAsync(apiAddress, "/internal/v1/lease", request, ApiJsonContext.Default.LeaseRequest, ApiJsonContext.Default.LeaseResponse, timeout, cancellationToken);

    public Task<ProposeResponse> ProposeAsync(string apiAddress, ClusterCommand command, TimeSpan timeout, CancellationToken cancellationToken) =>
        PostAsync(apiAddress, "/internal/v1/propose", command, ApiJsonContext.Default.ClusterCommand, ApiJsonContext.Default.ProposeResponse, timeout, cancellationToken);

    private async Task<TResponse> PostAsync<TRequest, TResponse>(
        string apiAddress,
        string path,
        TRequest request,
        JsonTypeInfo<TRequest> requestType,
        JsonTypeInfo<TResponse> responseType,
        TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var body = JsonSerializer.SerializeToUtf8Bytes(request, requestType);
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri($"http://{apiAddress}{path}"))
        {
            Content = new ByteArrayContent(body),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        message.Headers.Add(RequestSigner.HeaderName, _signer.Sign("POST", path, body));
        using var response = await _http.SendAsync(message, deadline.Token);
        var bytes = await response.Content.ReadAsByteArrayAsync(deadline.Token);
        if (response.StatusCode == HttpStatusCode.OK)
        {
            return JsonSerializer.Deserialize(bytes, responseType)
                ?? throw new InvalidDataException($"{apiAddress}{path} answered with an empty body");
        }

        var error = TryReadError(bytes);
        if (response.StatusCode == HttpStatusCode.MisdirectedRequest)
        {
            throw new NotLeaderException(error?.Leader);
        }

        throw new HttpRequestException($"{apiAddress}{path} answered {(int)response.StatusCode}: {error?.Error ?? "no details"}", null, response.StatusCode);
    }

    private static NotLeaderResponse? TryReadError(byte[] bytes)
    {
        try
        {
            return JsonSerializer.Deserialize(bytes, ApiJsonContext.Default.NotLeaderResponse);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}

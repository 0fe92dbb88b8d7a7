using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Configuration;

namespace PgRaft.Node.Cli;

/// <summary>
/// <c>pgraft list</c> and <c>pgraft history</c> (what this node's API knows of the cluster, as text), <c>pgraft pause</c>
/// and <c>pgraft resume</c> (maintenance mode), and the API helpers the commands share.
/// </summary>
internal static class ClusterCommands
{
    private static readonly TimeSpan AppliedWait = TimeSpan.FromSeconds(5);

    public static Command List() => Build(
        "list",
        "show the members: role, state, WAL position, lag and tags (like patronictl list)",
        async (session, state, cancellationToken) => await session.ReadNodesAsync(cancellationToken) is { } nodes ? ClusterListing.Members(state, nodes) : null);

    public static Command History() => Build(
        "history",
        "show every change of primary: when, why, from which node to which, and where the old timeline was left",
        (_, state, _) => Task.FromResult<string?>(ClusterListing.History(state)));

    public static Command Pause() => Maintenance(
        "pause",
        "maintenance mode: no automatic failover until `pgraft resume` (PostgreSQL, replication and the proxies keep running; switchover still works)",
        paused: true);

    public static Command Resume() => Maintenance("resume", "end maintenance mode: automatic failover again", paused: false);

    /// <summary>
    /// Proposes <paramref name="command"/> to the members in turn (signed with the cluster secret) until the Raft leader
    /// answers; null when none did.
    /// </summary>
    internal static Task<ProposeResponse?> ProposeAsync(HttpClient http, RequestSigner signer, ClusterState state, ClusterCommand command, CancellationToken cancellationToken) =>
        PostToLeaderAsync(http, signer, state, "/internal/v1/propose", command, ApiJsonContext.Default.ClusterCommand, ApiJsonContext.Default.ProposeResponse, cancellationToken);

    /// <summary>
    /// POSTs a signed request to the members in turn until one answers with success (only the Raft leader does for
    /// leader-only calls; a member may be down). While none does (an election in progress, a leadership handover) it
    /// goes round again for up to <see cref="LeaderWait"/>; null when none did by then.
    /// </summary>
    internal static async Task<TResponse?> PostToLeaderAsync<TRequest, TResponse>(
        HttpClient http, RequestSigner signer, ClusterState state, string path, TRequest request, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken)
        where TResponse : class
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(request, requestType);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            foreach (var member in state.Members.Values)
            {
                using var message = new HttpRequestMessage(HttpMethod.Post, new Uri($"http://{member.ApiAddress}{path}")) { Content = new ByteArrayContent(body) };
                message.Headers.Add(RequestSigner.HeaderName, signer.Sign("POST", path, body));
                try
                {
                    using var response = await http.SendAsync(message, cancellationToken);
                    if (response.IsSuccessStatusCode)
                    {
                        return await response.Content.ReadFromJsonAsync(responseType, cancellationToken);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    // Try the next member.
                }
            }

            if (clock.Elapsed >= LeaderWait)
            {
                return null;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }
    }

    /// <summary>How long a request waits for some member to accept it as Raft leader: a few elections' worth.</summary>
    private static readonly TimeSpan LeaderWait = TimeSpan.FromSeconds(5);

    /// <summary>GETs one API document; null (and a message naming the address) when the node cannot be asked.</summary>
    internal static async Task<T?> ReadAsync<T>(HttpClient http, string api, string path, JsonTypeInfo<T> type, TextWriter error, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return await http.GetFromJsonAsync(new Uri($"http://{api}{path}"), type, cancellationToken)
                ?? throw new HttpRequestException("an empty answer");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            error.WriteLine($"pgraft: cannot read {path} from this node's API at {api} ({ex.Message}); is `pgraft run` running here?");
            return null;
        }
    }

    /// <summary>The API address this node's configuration advertises, for a command run on the node.</summary>
    internal static string ApiAddress(NodeOptions options) => NodeOptionsValidator.Advertised(options.Api.Bind, options.Api.Advertise)!.Value.ToString();

    private static Command Maintenance(string name, string description, bool paused)
    {
        var command = new Command(name, description);
        OperatorSession.SetAction(command, OperatorSession.AddCommonOptions(command), async (session, _, state, cancellationToken) =>
        {
            if (state.Spec.Paused == paused)
            {
                session.Output.WriteLine(paused ? "the cluster is already paused: no automatic failover" : "the cluster is not paused: automatic failover is on");
                return 0;
            }

            if (await session.ProposeAsync(state, paused ? new Pause() : new Resume(), name, cancellationToken) is not { } answer)
            {
                return 1;
            }

            // The leader has committed it; wait until this node applied it too, so a `pgraft list` right after shows it.
            if (await session.WaitAsync(AppliedWait, now => now.Spec.Paused == paused ? 0 : null, cancellationToken) is null)
            {
                session.Error.WriteLine($"pgraft: the leader applied '{answer.Message}' but this node ({session.Api}) has not caught up after {AppliedWait.TotalSeconds:F0} s; `pgraft list` on another node shows the cluster's state");
                return 1;
            }

            session.Output.WriteLine(answer.Message);
            return 0;
        });
        return command;
    }

    private static Command Build(string name, string description, Func<OperatorSession, ClusterState, CancellationToken, Task<string?>> render)
    {
        var command = new Command(name, description);
        OperatorSession.SetAction(command, OperatorSession.AddCommonOptions(command), async (session, _, state, cancellationToken) =>
        {
            if (await render(session, state, cancellationToken) is not { } text)
            {
                return 1;
            }

            session.Output.Write(text);
            return 0;
        });
        return command;
    }
}

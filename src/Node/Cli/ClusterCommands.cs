using System.CommandLine;
using System.Diagnostics;
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
        async (http, api, error, cancellationToken) =>
        {
            var state = await ReadAsync(http, api, "/cluster", ApiJsonContext.Default.ClusterState, error, cancellationToken);
            var nodes = state is null ? null : await ReadAsync(http, api, "/cluster/nodes", ApiJsonContext.Default.ClusterNodes, error, cancellationToken);
            return state is null || nodes is null ? null : ClusterListing.Members(state, nodes);
        });

    public static Command History() => Build(
        "history",
        "show every change of primary: when, why, from which node to which, and where the old timeline was left",
        async (http, api, error, cancellationToken) =>
        {
            var state = await ReadAsync(http, api, "/cluster", ApiJsonContext.Default.ClusterState, error, cancellationToken);
            return state is null ? null : ClusterListing.History(state);
        });

    public static Command Pause() => Maintenance(
        "pause",
        "maintenance mode: no automatic failover until `pgraft resume` (PostgreSQL, replication and the proxies keep running; switchover still works)",
        paused: true);

    public static Command Resume() => Maintenance("resume", "end maintenance mode: automatic failover again", paused: false);

    /// <summary>
    /// Proposes <paramref name="command"/> to the members in turn (signed with the cluster secret) until the Raft leader
    /// answers; null when none did.
    /// </summary>
    internal static async Task<ProposeResponse?> ProposeAsync(HttpClient http, RequestSigner signer, ClusterState state, ClusterCommand command, CancellationToken cancellationToken)
    {
        const string path = "/internal/v1/propose";
        var body = JsonSerializer.SerializeToUtf8Bytes(command, ApiJsonContext.Default.ClusterCommand);
        foreach (var member in state.Members.Values)
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, new Uri($"http://{member.ApiAddress}{path}")) { Content = new ByteArrayContent(body) };
            message.Headers.Add(RequestSigner.HeaderName, signer.Sign("POST", path, body));
            try
            {
                using var response = await http.SendAsync(message, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ProposeResponse, cancellationToken);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // Try the next member: only the Raft leader accepts proposals, and a member may be down.
            }
        }

        return null;
    }

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
        var config = PgRaftCommandLine.ConfigOption();
        var set = PgRaftCommandLine.SetOption();
        var command = new Command(name, description);
        command.Options.Add(config);
        command.Options.Add(set);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var output = parse.InvocationConfiguration.Output;
            if (!PgRaftCommandLine.TryLoad(parse.GetValue(config), parse.GetValue(set) ?? [], error, out var options))
            {
                return ConfigurationException.ExitCode;
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var api = ApiAddress(options);
            if (await ReadAsync(http, api, "/cluster", ApiJsonContext.Default.ClusterState, error, cancellationToken) is not { } state)
            {
                return 1;
            }

            if (state.Spec.Paused == paused)
            {
                output.WriteLine(paused ? "the cluster is already paused: no automatic failover" : "the cluster is not paused: automatic failover is on");
                return 0;
            }

            var signer = new RequestSigner(Hosting.NodeRuntime.ReadClusterSecret(options), TimeProvider.System);
            var answer = await ProposeAsync(http, signer, state, paused ? new Pause() : new Resume(), cancellationToken);
            if (answer is null || answer.Outcome != CommandOutcome.Applied)
            {
                error.WriteLine($"pgraft: {name} refused: {answer?.Message ?? "no member accepted the request as Raft leader; retry shortly"}");
                return 1;
            }

            // The leader has committed it; wait until this node applied it too, so a `pgraft list` right after shows it.
            var clock = Stopwatch.StartNew();
            while ((await ReadAsync(http, api, "/cluster", ApiJsonContext.Default.ClusterState, error, cancellationToken))?.Spec.Paused != paused)
            {
                if (clock.Elapsed > AppliedWait)
                {
                    error.WriteLine($"pgraft: the leader applied '{answer.Message}' but this node ({api}) has not caught up after {AppliedWait.TotalSeconds:F0} s; `pgraft list` on another node shows the cluster's state");
                    return 1;
                }

                await Task.Delay(100, cancellationToken);
            }

            output.WriteLine(answer.Message);
            return 0;
        });
        return command;
    }

    private static Command Build(string name, string description, Func<HttpClient, string, TextWriter, CancellationToken, Task<string?>> render)
    {
        var config = PgRaftCommandLine.ConfigOption();
        var set = PgRaftCommandLine.SetOption();
        var command = new Command(name, description);
        command.Options.Add(config);
        command.Options.Add(set);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            if (!PgRaftCommandLine.TryLoad(parse.GetValue(config), parse.GetValue(set) ?? [], error, out var options))
            {
                return ConfigurationException.ExitCode;
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var text = await render(http, ApiAddress(options), error, cancellationToken);
            if (text is null)
            {
                return 1;
            }

            parse.InvocationConfiguration.Output.Write(text);
            return 0;
        });
        return command;
    }
}

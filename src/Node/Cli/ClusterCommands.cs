using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json.Serialization.Metadata;
using PgRaft.Node.Api;
using PgRaft.Node.Configuration;

namespace PgRaft.Node.Cli;

/// <summary><c>pgraft list</c> and <c>pgraft history</c>: what this node's API knows of the cluster, as text.</summary>
internal static class ClusterCommands
{
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

using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Json;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Configuration;

namespace PgRaft.Node.Cli;

/// <summary><c>pgraft switchover [--to NODE]</c>: a planned change of primary that loses no commit (DESIGN §6).</summary>
internal static class SwitchoverCommand
{
    public static Command Build()
    {
        var config = PgRaftCommandLine.ConfigOption();
        var set = PgRaftCommandLine.SetOption();
        var to = new Option<string?>("--to") { Description = "the standby to promote (default: the best one)" };
        var wait = new Option<int>("--wait") { Description = "seconds to wait for the new primary", DefaultValueFactory = _ => 60 };
        var command = new Command("switchover", "hand the primary role to a standby without losing any commit");
        command.Options.Add(config);
        command.Options.Add(set);
        command.Options.Add(to);
        command.Options.Add(wait);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var output = parse.InvocationConfiguration.Output;
            if (!PgRaftCommandLine.TryLoad(parse.GetValue(config), parse.GetValue(set) ?? [], error, out var options))
            {
                return ConfigurationException.ExitCode;
            }

            var signer = new RequestSigner(Hosting.NodeRuntime.ReadClusterSecret(options), TimeProvider.System);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var api = ClusterCommands.ApiAddress(options);
            if (await ClusterCommands.ReadAsync(http, api, "/cluster", ApiJsonContext.Default.ClusterState, error, cancellationToken) is not { } state)
            {
                return 1;
            }

            var target = parse.GetValue(to);
            if (target is not null && !state.Members.ContainsKey(target))
            {
                error.WriteLine($"pgraft: '{target}' is not a member; members: {string.Join(", ", state.Members.Keys)}");
                return 2;
            }

            if (state.View.Primary is null || state.View.Primary == target)
            {
                error.WriteLine(state.View.Primary is null ? "pgraft: there is no primary to switch over from" : $"pgraft: {target} is already the primary");
                return 1;
            }

            var answer = await ClusterCommands.ProposeAsync(http, signer, state, new RequestSwitchover(state.View.Generation, target, DateTimeOffset.UtcNow), cancellationToken);
            if (answer is null || answer.Outcome != CommandOutcome.Applied)
            {
                error.WriteLine($"pgraft: switchover refused: {answer?.Message ?? "no member accepted the request as Raft leader; retry shortly"}");
                return 1;
            }

            output.WriteLine($"switchover from {state.View.Primary} to {target ?? "the best standby"} requested");
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(parse.GetValue(wait)))
            {
                await Task.Delay(200, cancellationToken);
                var now = await http.GetFromJsonAsync(new Uri($"http://{api}/cluster"), ApiJsonContext.Default.ClusterState, cancellationToken);
                if (now?.View.Primary is { } primary && primary != state.View.Primary)
                {
                    output.WriteLine($"{primary} is primary (generation {now.View.Generation}) after {clock.Elapsed.TotalSeconds:F1} s");
                    return 0;
                }

                if (now?.Switchover is null && clock.Elapsed > TimeSpan.FromSeconds(1))
                {
                    error.WriteLine($"pgraft: the switchover was cancelled; see the leader's log for why (primary is still {now?.View.Primary})");
                    return 1;
                }
            }

            error.WriteLine("pgraft: the switchover did not complete in time; `curl http://" + api + "/cluster` shows its state");
            return 1;
        });
        return command;
    }
}

using System.CommandLine;
using System.Globalization;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Cli;

/// <summary>
/// <c>pgraft switchover [--to NODE]</c>: a planned change of primary that loses no commit (DESIGN §6), and
/// <c>pgraft failover [--to NODE] [--force]</c>: replace the primary now, paused or not, by the failover rules (§6–8).
/// </summary>
internal static class SwitchoverCommand
{
    public static Command Build()
    {
        var command = new Command("switchover", "hand the primary role to a standby without losing any commit");
        var common = OperatorSession.AddCommonOptions(command);
        var to = new Option<string?>("--to") { Description = "the standby to promote (default: the best one)" };
        var wait = WaitOption(60);
        command.Options.Add(to);
        command.Options.Add(wait);
        OperatorSession.SetAction(command, common, (session, parse, state, cancellationToken) =>
            ChangePrimaryAsync(session, state, "switchover", parse.GetValue(to), force: true, TimeSpan.FromSeconds(parse.GetValue(wait)), cancellationToken));
        return command;
    }

    public static Command BuildFailover()
    {
        var command = new Command(
            "failover",
            "replace the primary now (even while paused) with a standby that holds every acknowledged commit; for a dead or stuck primary, where a switchover cannot run");
        var common = OperatorSession.AddCommonOptions(command);
        var to = new Option<string?>("--to", "--candidate") { Description = "the standby to promote (default: the best one)" };
        var force = new Option<bool>("--force") { Description = "fail over even though the primary is healthy (a switchover would lose nothing and interrupt writes for less time)" };
        var wait = WaitOption(60);
        command.Options.Add(to);
        command.Options.Add(force);
        command.Options.Add(wait);
        OperatorSession.SetAction(command, common, (session, parse, state, cancellationToken) =>
            ChangePrimaryAsync(session, state, "failover", parse.GetValue(to), parse.GetValue(force), TimeSpan.FromSeconds(parse.GetValue(wait)), cancellationToken));
        return command;
    }

    internal static Option<int> WaitOption(int seconds) => new("--wait")
    {
        Description = $"seconds to wait for the outcome (default {seconds}; 0: only submit the request)",
        DefaultValueFactory = _ => seconds,
    };

    private static async Task<int> ChangePrimaryAsync(OperatorSession session, ClusterState state, string operation, string? target, bool force, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (target is not null && !state.Members.ContainsKey(target))
        {
            session.Error.WriteLine($"pgraft: '{target}' is not a member; members: {string.Join(", ", state.Members.Keys)}");
            return 2;
        }

        if (state.View.Primary is not { } primary)
        {
            session.Error.WriteLine($"pgraft: there is no primary to {operation} from yet");
            return 1;
        }

        if (primary == target)
        {
            session.Error.WriteLine($"pgraft: {target} is already the primary");
            return 1;
        }

        if (!force && await session.ReadNodesAsync(cancellationToken) is { } nodes
            && nodes.Nodes.FirstOrDefault(n => n.NodeId == primary) is { Running: true, Healthy: true })
        {
            session.Error.WriteLine(
                $"pgraft: {primary} is a healthy primary: `pgraft switchover{(target is null ? "" : " --to " + target)}` hands over without losing anything and interrupts writes for less time. " +
                "Add --force to fail over anyway (its lease is not renewed, so it stops taking writes when the lease runs out).");
            return 1;
        }

        ClusterCommand request = operation == "switchover"
            ? new RequestSwitchover(state.View.Generation, target, DateTimeOffset.UtcNow)
            : new RequestFailover(state.View.Generation, target, DateTimeOffset.UtcNow);
        var since = state.LastNotice?.Sequence ?? 0;
        if (await session.ProposeAsync(state, request, operation, cancellationToken) is null)
        {
            return 1;
        }

        session.Output.WriteLine($"{operation} from {primary} to {target ?? "the best standby"} requested");
        if (wait <= TimeSpan.Zero)
        {
            return 0;
        }

        var started = TimeProvider.System.GetTimestamp();
        var outcome = await session.WaitAsync(wait, now =>
        {
            if (now.View.Primary is { } current && current != primary)
            {
                session.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{current} is primary (generation {now.View.Generation}) after {TimeProvider.System.GetElapsedTime(started).TotalSeconds:F1} s"));
                return 0;
            }

            if (OperatorSession.NoticeAfter(now, since, operation) is { Succeeded: false } cancelled)
            {
                session.Error.WriteLine("pgraft: " + cancelled.Message);
                return 1;
            }

            return null;
        }, cancellationToken);
        if (outcome is { } exitCode)
        {
            return exitCode;
        }

        session.Error.WriteLine($"pgraft: the {operation} did not complete within {wait.TotalSeconds:F0} s; `pgraft list` shows where it stands");
        return 1;
    }
}

using System.CommandLine;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Cli;

/// <summary><c>pgraft restart</c> and <c>pgraft reinit</c>: requests that one node's keeper carries out, one node at a time.</summary>
internal static class NodeOperationCommands
{
    public static Command Restart()
    {
        var command = new Command(
            "restart",
            "restart PostgreSQL on the named members in place, one at a time (standbys first, the primary last; its clients reconnect through the proxies)");
        var common = OperatorSession.AddCommonOptions(command);
        var members = new Argument<string[]>("members") { Description = "the members to restart", Arity = ArgumentArity.ZeroOrMore };
        var all = new Option<bool>("--all") { Description = "every member" };
        var pending = new Option<bool>("--pending") { Description = "only members whose PostgreSQL has changed parameters waiting for a restart" };
        var wait = SwitchoverCommand.WaitOption(120);
        command.Arguments.Add(members);
        command.Options.Add(all);
        command.Options.Add(pending);
        command.Options.Add(wait);
        OperatorSession.SetAction(command, common, async (session, parse, state, cancellationToken) =>
        {
            var named = parse.GetValue(members) ?? [];
            var everyone = parse.GetValue(all);
            var onlyPending = parse.GetValue(pending);
            if (named.Length == 0 && !everyone && !onlyPending)
            {
                session.Error.WriteLine("pgraft: name the members to restart, or give --all (every member, standbys first) or --pending (members with parameters waiting for a restart)");
                return 2;
            }

            var chosen = named.Length > 0 ? named.Distinct(StringComparer.Ordinal).ToList() : state.Members.Keys.ToList();
            if (chosen.FirstOrDefault(id => !state.Members.ContainsKey(id)) is { } unknown)
            {
                session.Error.WriteLine($"pgraft: '{unknown}' is not a member; members: {string.Join(", ", state.Members.Keys)}");
                return 2;
            }

            if (onlyPending)
            {
                if (await session.ReadNodesAsync(cancellationToken) is not { } nodes)
                {
                    return 1;
                }

                chosen = chosen.Where(id => nodes.Nodes.Any(n => n.NodeId == id && n.PendingRestart is not null)).ToList();
                if (chosen.Count == 0)
                {
                    session.Output.WriteLine("no member has parameters waiting for a restart");
                    return 0;
                }
            }

            // The primary last: if a standby's restart goes wrong, the primary has not been interrupted for nothing.
            var order = chosen.OrderBy(id => id == state.View.Primary ? 1 : 0).ThenBy(id => id, StringComparer.Ordinal).ToList();
            foreach (var nodeId in order)
            {
                if (nodeId == state.View.Primary)
                {
                    session.Output.WriteLine($"{nodeId} is the primary: its clients are cut and new ones wait in the proxies while PostgreSQL restarts (a switchover first avoids that)");
                }

                var exitCode = await RunAsync(session, nodeId, NodeOperationKind.Restart, TimeSpan.FromSeconds(parse.GetValue(wait)), cancellationToken);
                if (exitCode != 0)
                {
                    var rest = order.SkipWhile(id => id != nodeId).Skip(1).ToList();
                    if (rest.Count > 0)
                    {
                        session.Error.WriteLine($"pgraft: stopping here; not restarted: {string.Join(", ", rest)}");
                    }

                    return exitCode;
                }
            }

            return 0;
        });
        return command;
    }

    public static Command Reinit()
    {
        var command = new Command(
            "reinit",
            "re-clone a standby from its upstream with pg_basebackup (its old data directory is kept aside as <data>.old-<time>); for a standby that is broken or far behind");
        var common = OperatorSession.AddCommonOptions(command);
        var member = new Argument<string>("member") { Description = "the standby to re-clone" };
        var wait = SwitchoverCommand.WaitOption(3600);
        command.Arguments.Add(member);
        command.Options.Add(wait);
        OperatorSession.SetAction(command, common, async (session, parse, state, cancellationToken) =>
        {
            var nodeId = parse.GetValue(member)!;
            if (!state.Members.ContainsKey(nodeId))
            {
                session.Error.WriteLine($"pgraft: '{nodeId}' is not a member; members: {string.Join(", ", state.Members.Keys)}");
                return 2;
            }

            return await RunAsync(session, nodeId, NodeOperationKind.Reinit, TimeSpan.FromSeconds(parse.GetValue(wait)), cancellationToken);
        });
        return command;
    }

    /// <summary>Requests one operation and waits for the notice that ends it.</summary>
    private static async Task<int> RunAsync(OperatorSession session, string nodeId, NodeOperationKind kind, TimeSpan wait, CancellationToken cancellationToken)
    {
        var what = kind.ToString().ToLowerInvariant();
        // Read again for each member of a rolling restart: the members to send the request to may have changed.
        if (await session.ReadStateAsync(cancellationToken) is not { } state)
        {
            return 1;
        }

        if (await session.ProposeAsync(state, new RequestNodeOperation(nodeId, kind, DateTimeOffset.UtcNow), $"{what} of {nodeId}", cancellationToken) is not { } answer)
        {
            return 1;
        }

        session.Output.WriteLine(answer.Message);
        if (wait <= TimeSpan.Zero)
        {
            return 0;
        }

        var outcome = await session.WaitAsync(wait, now =>
        {
            if (OperatorSession.NoticeAfter(now, 0, what, answer.OperationId) is { } notice)
            {
                (notice.Succeeded ? session.Output : session.Error).WriteLine(notice.Succeeded ? notice.Message : "pgraft: " + notice.Message);
                return notice.Succeeded ? 0 : 1;
            }

            if (now.PendingOperations.TryGetValue(nodeId, out var pending) && pending.Id > answer.OperationId)
            {
                session.Error.WriteLine($"pgraft: another request for {nodeId} (operation {pending.Id}, a {pending.Kind.ToString().ToLowerInvariant()}) replaced this one before it ran");
                return 1;
            }

            return null;
        }, cancellationToken);
        if (outcome is { } exitCode)
        {
            return exitCode;
        }

        session.Error.WriteLine($"pgraft: the {what} of {nodeId} did not end within {wait.TotalSeconds:F0} s; `pgraft list` shows whether it is still pending");
        return 1;
    }
}

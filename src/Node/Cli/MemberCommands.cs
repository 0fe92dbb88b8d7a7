using System.CommandLine;
using PgRaft.Node.Api;
using PgRaft.Node.Configuration;

namespace PgRaft.Node.Cli;

/// <summary><c>pgraft member add|remove</c>: grow or shrink the cluster while it runs.</summary>
internal static class MemberCommands
{
    public static Command Build()
    {
        var command = new Command("member", "add a node to the running cluster, or remove one");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(Remove());
        return command;
    }

    private static Command Add()
    {
        var command = new Command(
            "add",
            "make a new node a member: start it first with Join: true and Peers listing members it can reach; it joins Raft, then is cloned as a standby");
        var common = OperatorSession.AddCommonOptions(command);
        var node = new Argument<string>("node") { Description = "the new node's id (its NodeId)" };
        var raft = new Option<string>("--raft") { Description = "the new node's Raft address, host:port (its Raft:Advertise, or Raft:Bind)", Required = true };
        command.Arguments.Add(node);
        command.Options.Add(raft);
        OperatorSession.SetAction(command, common, (session, parse, state, cancellationToken) =>
            RunAsync(session, state, new MembershipChange(MembershipAction.Add, parse.GetValue(node)!, parse.GetValue(raft)), cancellationToken));
        return command;
    }

    private static Command Remove()
    {
        var command = new Command(
            "remove",
            "remove a node from the cluster (not the primary or a synchronous standby: switch over, or tag it nosync, first); then stop its pgraft");
        var common = OperatorSession.AddCommonOptions(command);
        var node = new Argument<string>("node") { Description = "the node to remove" };
        command.Arguments.Add(node);
        OperatorSession.SetAction(command, common, (session, parse, state, cancellationToken) =>
            RunAsync(session, state, new MembershipChange(MembershipAction.Remove, parse.GetValue(node)!, null), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(OperatorSession session, Cluster.ClusterState state, MembershipChange change, CancellationToken cancellationToken)
    {
        if (change.Action == MembershipAction.Add && !HostPort.TryParse(change.RaftAddress ?? "", out _, out var problem))
        {
            session.Error.WriteLine($"pgraft: --raft {problem}");
            return 2;
        }

        if (await session.ChangeMembershipAsync(state, change, cancellationToken) is not { } answer)
        {
            return 1;
        }

        session.Output.WriteLine(answer.Message);
        return 0;
    }
}

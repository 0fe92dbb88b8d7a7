using System.CommandLine;
using System.Runtime.InteropServices;
using PgRaft.Node.Configuration;
using PgRaft.Node.Hosting;

namespace PgRaft.Node.Cli;

/// <summary>The <c>pgraft</c> command tree.</summary>
internal static class PgRaftCommandLine
{
    public static RootCommand Build()
    {
        var root = new RootCommand("PgRaft keeps PostgreSQL available: run `pgraft run` on every node.");
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(CheckConfigCommand());
        root.Subcommands.Add(SwitchoverCommand.Build());
        root.Subcommands.Add(ClusterCommands.List());
        root.Subcommands.Add(ClusterCommands.History());
        root.Subcommands.Add(ClusterCommands.Pause());
        root.Subcommands.Add(ClusterCommands.Resume());
        root.Subcommands.Add(SwitchoverCommand.BuildFailover());
        root.Subcommands.Add(NodeOperationCommands.Restart());
        root.Subcommands.Add(NodeOperationCommands.Reinit());
        root.Subcommands.Add(ConfigCommands.Show());
        root.Subcommands.Add(ConfigCommands.Edit());
        root.Subcommands.Add(MemberCommands.Build());
        return root;
    }

    internal static Option<string?> ConfigOption() => new("--config", "-c")
    {
        Description = "the node's JSON configuration file (settings can also come from PGRAFT_* environment variables)",
    };

    internal static Option<string[]> SetOption() => new("--set")
    {
        Description = "override one setting, e.g. --set Raft:Advertise=10.0.0.1:7432 (repeatable)",
        AllowMultipleArgumentsPerToken = false,
    };

    private static Command RunCommand()
    {
        var config = ConfigOption();
        var set = SetOption();
        var command = new Command("run", "run this node: Raft member, keeper of the local PostgreSQL, proxy and HTTP API");
        command.Options.Add(config);
        command.Options.Add(set);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!TryLoad(parse.GetValue(config), parse.GetValue(set) ?? [], parse.InvocationConfiguration.Error, out var options))
            {
                return ConfigurationException.ExitCode;
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, StopGracefully);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, StopGracefully);
            using var loggers = NodeLogging.Create(options.NodeId, options.Logging);
            await using var runtime = new NodeRuntime(options, loggers, TimeProvider.System);
            await runtime.RunAsync(stop.Token);
            return 0;

            void StopGracefully(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.Cancel();
            }
        });
        return command;
    }

    private static Command CheckConfigCommand()
    {
        var config = ConfigOption();
        var set = SetOption();
        var command = new Command("check-config", "validate this node's configuration and print what it resolves to (secrets hidden)");
        command.Options.Add(config);
        command.Options.Add(set);
        command.SetAction(parse =>
        {
            if (!TryLoad(parse.GetValue(config), parse.GetValue(set) ?? [], parse.InvocationConfiguration.Error, out var options))
            {
                return ConfigurationException.ExitCode;
            }

            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"node {options.NodeId}: configuration is valid");
            output.WriteLine($"  data dir       {options.DataDir}");
            output.WriteLine($"  raft           bind {options.Raft.Bind}, advertise {NodeOptionsValidator.Advertised(options.Raft.Bind, options.Raft.Advertise)}");
            output.WriteLine($"  api            bind {options.Api.Bind}");
            output.WriteLine($"  postgres       bind {options.Postgres.Bind}, os user {options.Postgres.OsUser}");
            output.WriteLine($"  proxy          read-write {options.Proxy.ReadWriteBind}, read-only {options.Proxy.ReadOnlyBind}");
            output.WriteLine($"  peers          {string.Join(", ", options.Peers.Select(p => $"{p.Id}@{p.Raft}"))}");
            output.WriteLine($"  cluster secret {(options.ClusterSecretFile is null ? "(from the environment)" : "from " + options.ClusterSecretFile)}");
            return 0;
        });
        return command;
    }

    /// <summary>Loads the configuration, or writes every problem to <paramref name="error"/>.</summary>
    internal static bool TryLoad(string? configPath, string[] overrides, TextWriter error, out NodeOptions options)
    {
        var pairs = new List<KeyValuePair<string, string?>>();
        foreach (var item in overrides)
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                error.WriteLine($"pgraft: --set '{item}' is not Key=Value; write e.g. --set Raft:Advertise=10.0.0.1:7432");
                options = null!;
                return false;
            }

            pairs.Add(new(item[..equals], item[(equals + 1)..]));
        }

        try
        {
            options = NodeConfigurationLoader.Load(configPath, Environment.GetEnvironmentVariables(), pairs);
            return true;
        }
        catch (ConfigurationException ex)
        {
            error.WriteLine("pgraft: " + ex.Message);
            options = null!;
            return false;
        }
    }
}

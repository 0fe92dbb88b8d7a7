using System.CommandLine;
using System.Diagnostics;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Configuration;

namespace PgRaft.Node.Cli;

/// <summary>
/// What an operator command run on a node needs: the node's configuration, its API, and (for requests that change
/// something) the cluster secret to sign them with. Every failure is a message on the error writer, never a stack trace.
/// </summary>
internal sealed class OperatorSession : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    private OperatorSession(NodeOptions options, TextWriter output, TextWriter error)
    {
        Options = options;
        Output = output;
        Error = error;
        Api = ClusterCommands.ApiAddress(options);
    }

    public NodeOptions Options { get; }

    public TextWriter Output { get; }

    public TextWriter Error { get; }

    /// <summary>This node's API address (host:port).</summary>
    public string Api { get; }

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>
    /// The options every operator command takes: <c>--config</c>, and <c>--set</c> for node settings unless
    /// <paramref name="nodeOverrides"/> is false (a command whose own <c>--set</c> means something else).
    /// </summary>
    public static (Option<string?> Config, Option<string[]>? Set) AddCommonOptions(Command command, bool nodeOverrides = true)
    {
        var config = PgRaftCommandLine.ConfigOption();
        command.Options.Add(config);
        if (!nodeOverrides)
        {
            return (config, null);
        }

        var set = PgRaftCommandLine.SetOption();
        command.Options.Add(set);
        return (config, set);
    }

    /// <summary>
    /// Gives <paramref name="command"/> its action: open the session (exit 2 on a configuration that is not valid), read
    /// this node's <c>/cluster</c> (exit 1 when it cannot be read), then run <paramref name="body"/> for the exit code.
    /// </summary>
    public static void SetAction(
        Command command, (Option<string?> Config, Option<string[]>? Set) options, Func<OperatorSession, ParseResult, ClusterState, CancellationToken, Task<int>> body) =>
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var session = Open(parse, options);
            if (session is null)
            {
                return ConfigurationException.ExitCode;
            }

            return await session.ReadStateAsync(cancellationToken) is { } state ? await body(session, parse, state, cancellationToken) : 1;
        });

    /// <summary>The session for a parsed command line, or null (with the problem written) when the configuration is not valid.</summary>
    private static OperatorSession? Open(ParseResult parse, (Option<string?> Config, Option<string[]>? Set) options)
    {
        var error = parse.InvocationConfiguration.Error;
        var overrides = options.Set is null ? [] : parse.GetValue(options.Set) ?? [];
        return PgRaftCommandLine.TryLoad(parse.GetValue(options.Config), overrides, error, out var loaded)
            ? new OperatorSession(loaded, parse.InvocationConfiguration.Output, error)
            : null;
    }

    public Task<ClusterState?> ReadStateAsync(CancellationToken cancellationToken) =>
        ClusterCommands.ReadAsync(Http, Api, "/cluster", ApiJsonContext.Default.ClusterState, Error, cancellationToken);

    public Task<ClusterNodes?> ReadNodesAsync(CancellationToken cancellationToken) =>
        ClusterCommands.ReadAsync(Http, Api, "/cluster/nodes", ApiJsonContext.Default.ClusterNodes, Error, cancellationToken);

    /// <summary>
    /// Proposes <paramref name="command"/> through the Raft leader, signed with the cluster secret. Returns the applied
    /// answer, or null after writing why it was refused (<paramref name="what"/> names the request in that message).
    /// </summary>
    public async Task<ProposeResponse?> ProposeAsync(ClusterState state, ClusterCommand command, string what, CancellationToken cancellationToken)
    {
        if (Signer() is not { } signer)
        {
            return null;
        }

        var answer = await ClusterCommands.ProposeAsync(Http, signer, state, command, cancellationToken);
        if (answer is null || answer.Outcome != CommandOutcome.Applied)
        {
            Error.WriteLine($"pgraft: {what} refused: {answer?.Message ?? "no member accepted the request as Raft leader; retry shortly"}");
            return null;
        }

        return answer;
    }

    /// <summary>Sends a membership change to the Raft leader (asking again where the leader handed over first); null after writing why not.</summary>
    public async Task<MembershipResult?> ChangeMembershipAsync(ClusterState state, MembershipChange change, CancellationToken cancellationToken)
    {
        if (Signer() is not { } signer)
        {
            return null;
        }

        for (var attempt = 0; ; attempt++)
        {
            var answer = await ClusterCommands.PostToLeaderAsync(
                Http, signer, state, "/internal/v1/membership", change, ApiJsonContext.Default.MembershipChange, ApiJsonContext.Default.MembershipResult, cancellationToken);
            if (answer is { RetryElsewhere: true } && attempt < 5)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                continue;
            }

            if (answer is null)
            {
                Error.WriteLine("pgraft: no member accepted the request as Raft leader; retry shortly");
            }
            else if (!answer.Done)
            {
                Error.WriteLine("pgraft: " + answer.Message);
                return null;
            }

            return answer;
        }
    }

    /// <summary>The signer over the cluster secret, or null (with the reason written) when the secret cannot be read.</summary>
    private RequestSigner? Signer()
    {
        try
        {
            return new RequestSigner(Hosting.NodeRuntime.ReadClusterSecret(Options), TimeProvider.System);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Error.WriteLine($"pgraft: cannot read the cluster secret from {Options.ClusterSecretFile} ({ex.GetType().Name}); run this as the user pgraft runs as, e.g. `sudo -u postgres pgraft ...`");
            return null;
        }
    }

    /// <summary>
    /// Polls this node's <c>/cluster</c> until <paramref name="done"/> says something other than null (the command's
    /// exit code) or <paramref name="timeout"/> passes; null then (a node that cannot be read counts as not yet).
    /// </summary>
    public async Task<int?> WaitAsync(TimeSpan timeout, Func<ClusterState, int?> done, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (await ClusterCommands.ReadAsync(Http, Api, "/cluster", ApiJsonContext.Default.ClusterState, TextWriter.Null, cancellationToken) is { } state
                && done(state) is { } exitCode)
            {
                return exitCode;
            }

            await Task.Delay(PollInterval, cancellationToken);
        }

        return null;
    }

    /// <summary>The first notice about <paramref name="operation"/> after <paramref name="afterSequence"/>, if one came.</summary>
    public static OperationNotice? NoticeAfter(ClusterState state, long afterSequence, string operation, long? operationId = null) =>
        state.RecentNotices.FirstOrDefault(n => n.Sequence > afterSequence && n.Operation == operation && (operationId is null || n.OperationId == operationId));

    public void Dispose() => Http.Dispose();
}

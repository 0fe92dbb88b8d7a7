namespace PgRaft.Node.Configuration;

/// <summary>The node's configuration is unusable; <see cref="Exception.Message"/> lists every problem, each naming the setting and the fix.</summary>
internal sealed class ConfigurationException(IReadOnlyList<string> problems)
    : Exception("invalid configuration:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  - " + p)))
{
    /// <summary>The process exit code for a configuration error.</summary>
    public const int ExitCode = 2;

    public IReadOnlyList<string> Problems { get; } = problems;
}

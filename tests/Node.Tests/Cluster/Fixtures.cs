using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Tests.Cluster;

internal static class Fixtures
{
    public static Member Member(string id, MemberTags? tags = null) =>
        new(id, $"{id}.test:7432", $"{id}.test:5433", $"{id}.test:5432", $"{id}.test:8008", tags ?? MemberTags.None);

    public static ClusterStateMachine NewMachine(ListLogger<ClusterStateMachine>? logger = null) =>
        new(logger ?? new ListLogger<ClusterStateMachine>());

    /// <summary>Applies commands through the real encoding, at consecutive indexes after the machine's current one.</summary>
    public static List<CommandResult> ApplyAll(ClusterStateMachine machine, params IEnumerable<ClusterCommand> commands)
    {
        var results = new List<CommandResult>();
        foreach (var command in commands)
        {
            results.Add((CommandResult)machine.Apply(machine.Applied.Index + 1, CommandCodec.Encode(command))!);
        }

        return results;
    }
}

/// <summary>A logger that keeps what it is told, to check that something was logged.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, EventId Event, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, eventId, formatter(state, exception)));
}

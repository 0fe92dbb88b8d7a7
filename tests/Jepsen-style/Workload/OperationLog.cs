using System.Collections.Concurrent;

namespace PgRaft.JepsenStyle.Workload;

/// <summary>Every operation of the run, from every client; safe to add to from many threads.</summary>
internal sealed class OperationLog
{
    private readonly ConcurrentQueue<Operation> _operations = new();

    public void Add(Operation operation) => _operations.Enqueue(operation);

    /// <summary>Every operation so far, in no particular order (cheap: for polling).</summary>
    public IEnumerable<Operation> Unordered => _operations;

    public IReadOnlyList<Operation> Snapshot() => [.. _operations.OrderBy(o => o.Start)];
}

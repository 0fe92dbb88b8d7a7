using Microsoft.Extensions.Logging;
using PgRaft.Raft.Hosting;

namespace PgRaft.Node.Cluster;

/// <summary>
/// The cluster state applied from the Raft log. The Raft host calls <see cref="Apply"/>, <see cref="TakeSnapshot"/> and
/// <see cref="Restore"/> from one thread; readers (proxy, API, sentinel) take <see cref="Current"/> from any thread, or
/// wait for the next change with <see cref="WaitForChangeAsync"/>.
/// </summary>
internal sealed class ClusterStateMachine : IStateMachine
{
    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private volatile AppliedClusterState _current = new(0, ClusterState.Empty);
    private TaskCompletionSource _changed = NewSignal();

    public ClusterStateMachine(ILogger<ClusterStateMachine> logger)
    {
        _logger = logger;
    }

    /// <summary>The latest applied state and the log index it reflects.</summary>
    public AppliedClusterState Applied => _current;

    public ClusterState Current => _current.State;

    /// <summary>Raised after every change of state (on the applying thread; keep handlers short).</summary>
    public event Action<ClusterState>? Changed;

    public object? Apply(long index, ReadOnlySpan<byte> command)
    {
        lock (_gate)
        {
            var applied = _current;
            if (index <= applied.Index)
            {
                return CommandResult.Ignored($"entry {index} is already applied (at {applied.Index})");
            }

            if (command.IsEmpty)
            {
                _current = applied with { Index = index };
                return CommandResult.Ignored("empty entry");
            }

            if (!CommandCodec.TryDecode(command, out var decoded, out var error))
            {
                LogMessages.UndecodableCommand(_logger, index, command.Length, error!);
                _current = applied with { Index = index };
                return CommandResult.Rejected($"entry {index}: {error}");
            }

            var (next, result) = ClusterStateApplier.Apply(applied.State, decoded!);
            if (result.Outcome == CommandOutcome.Rejected)
            {
                LogMessages.CommandRejected(_logger, index, decoded!.GetType().Name, result.Message);
            }
            else
            {
                LogMessages.CommandApplied(_logger, index, decoded!.GetType().Name, result.Message);
            }

            Publish(new AppliedClusterState(index, next), !ReferenceEquals(next, applied.State));
            return result;
        }
    }

    public byte[] TakeSnapshot()
    {
        lock (_gate)
        {
            var applied = _current;
            return ClusterSnapshot.Encode(applied.Index, applied.State);
        }
    }

    public void Restore(ReadOnlySpan<byte> snapshot)
    {
        lock (_gate)
        {
            var decoded = ClusterSnapshot.Decode(snapshot);
            LogMessages.SnapshotRestored(_logger, decoded.AppliedIndex, decoded.State.View.Generation, decoded.State.Members.Count);
            Publish(new AppliedClusterState(decoded.AppliedIndex, decoded.State), true);
        }
    }

    /// <summary>Completes when the state differs from <paramref name="seen"/> (at once if it already does).</summary>
    public async Task<ClusterState> WaitForChangeAsync(ClusterState seen, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task signal;
            lock (_gate)
            {
                if (!ReferenceEquals(_current.State, seen))
                {
                    return _current.State;
                }

                signal = _changed.Task;
            }

            await signal.WaitAsync(cancellationToken);
        }
    }

    private void Publish(AppliedClusterState next, bool stateChanged)
    {
        _current = next;
        if (!stateChanged)
        {
            return;
        }

        var signal = _changed;
        _changed = NewSignal();
        signal.TrySetResult();
        try
        {
            Changed?.Invoke(next.State);
        }
        catch (Exception e)
        {
            LogMessages.ChangeHandlerFailed(_logger, e);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>A cluster state and the log index it reflects.</summary>
internal sealed record AppliedClusterState(long Index, ClusterState State);

namespace PgRaft.Node.Hosting;

/// <summary>
/// Wakes a periodic loop before its interval ends, when something it must answer has just happened (a committed view
/// change, a keeper action done). A signal that arrives while the loop is busy makes its next wait return at once.
/// </summary>
internal sealed class LoopSignal
{
    private TaskCompletionSource _next = NewSource();

    public void Set() => Volatile.Read(ref _next).TrySetResult();

    /// <summary>Called before each round: forgets a signal that this round will answer anyway.</summary>
    public void Consume()
    {
        var current = Volatile.Read(ref _next);
        if (current.Task.IsCompleted)
        {
            Interlocked.CompareExchange(ref _next, NewSource(), current);
        }
    }

    /// <summary>Waits for <paramref name="interval"/> or a signal, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan interval, TimeProvider time, CancellationToken cancellationToken)
    {
        var signal = Volatile.Read(ref _next).Task;
        if (signal.IsCompleted)
        {
            return;
        }

        using var delayCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(interval, time, delayCancellation.Token);
        if (await Task.WhenAny(signal, delay) == signal)
        {
            await delayCancellation.CancelAsync();
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

namespace PgRaft.Proxy.Routing;

/// <summary>
/// A routing source that something else pushes snapshots into (the node on every applied
/// change, the test host from its command line). Thread-safe.
/// </summary>
internal sealed class ProxyRoutingPublisher : IProxyRoutingSource
{
    private readonly Lock _gate = new();
    private volatile ProxyRoutingSnapshot _current;
    private volatile TaskCompletionSource _changed = NewSignal();

    public ProxyRoutingPublisher(ProxyRoutingSnapshot? initial = null)
    {
        _current = (initial ?? ProxyRoutingSnapshot.Nothing) with { Version = 1 };
    }

    public ProxyRoutingSnapshot Current => _current;

    /// <summary>Makes <paramref name="snapshot"/> current (its Version is replaced) and wakes every waiter.</summary>
    public ProxyRoutingSnapshot Publish(ProxyRoutingSnapshot snapshot)
    {
        TaskCompletionSource previous;
        ProxyRoutingSnapshot published;
        lock (_gate)
        {
            published = snapshot with { Version = _current.Version + 1 };
            _current = published;
            previous = _changed;
            _changed = NewSignal();
        }

        previous.TrySetResult();
        return published;
    }

    public async Task WaitForChangeAsync(long knownVersion, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Read the signal before the version: a publish in between completes this very signal.
            var signal = _changed;
            if (_current.Version != knownVersion)
            {
                return;
            }

            await signal.Task.WaitAsync(cancellationToken);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

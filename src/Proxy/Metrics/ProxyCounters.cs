namespace PgRaft.Proxy.Metrics;

/// <summary>Live counters of one listener, cheap to update from any thread; read them for metrics.</summary>
internal sealed class ProxyCounters
{
    private long _active;
    private long _total;
    private long _bytesToServer;
    private long _bytesToClient;
    private long _refused;
    private long _held;
    private long _holdTimeouts;
    private long _connectFailures;
    private long _cut;

    /// <summary>Connections being forwarded now.</summary>
    public long Active => Volatile.Read(ref _active);

    /// <summary>Connections forwarded since start.</summary>
    public long Total => Volatile.Read(ref _total);

    public long BytesToServer => Volatile.Read(ref _bytesToServer);

    public long BytesToClient => Volatile.Read(ref _bytesToClient);

    /// <summary>Clients refused because the connection limit was reached.</summary>
    public long Refused => Volatile.Read(ref _refused);

    /// <summary>Clients that had to wait for a target.</summary>
    public long Held => Volatile.Read(ref _held);

    /// <summary>Held clients closed because no target appeared in time.</summary>
    public long HoldTimeouts => Volatile.Read(ref _holdTimeouts);

    /// <summary>Clients closed because the backend could not be reached.</summary>
    public long ConnectFailures => Volatile.Read(ref _connectFailures);

    /// <summary>Connections closed because their target stopped being valid.</summary>
    public long Cut => Volatile.Read(ref _cut);

    internal void AddBytes(bool toServer, int count)
    {
        if (toServer)
        {
            Interlocked.Add(ref _bytesToServer, count);
        }
        else
        {
            Interlocked.Add(ref _bytesToClient, count);
        }
    }

    internal void ConnectionOpened()
    {
        Interlocked.Increment(ref _active);
        Interlocked.Increment(ref _total);
    }

    internal void ConnectionClosed() => Interlocked.Decrement(ref _active);

    internal void AddRefused() => Interlocked.Increment(ref _refused);

    internal void AddHeld() => Interlocked.Increment(ref _held);

    internal void AddHoldTimeout() => Interlocked.Increment(ref _holdTimeouts);

    internal void AddConnectFailure() => Interlocked.Increment(ref _connectFailures);

    internal void AddCut(int count) => Interlocked.Add(ref _cut, count);
}

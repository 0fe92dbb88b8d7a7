using System.Net;
using System.Threading.Channels;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Transport;

/// <summary>Carries <see cref="RaftMessage"/>s between peers. Lossy by design: Raft retries.</summary>
public interface IRaftTransport : IAsyncDisposable
{
    /// <summary>Starts listening and dialling.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Queues a message for its <see cref="RaftMessage.To"/> peer without blocking; drops it when that peer's queue is full or the peer is unknown.</summary>
    void Send(RaftMessage message);

    /// <summary>Messages received from authenticated peers.</summary>
    ChannelReader<RaftMessage> Incoming { get; }

    /// <summary>Replaces the set of peers this node dials (membership changes).</summary>
    void UpdatePeers(IReadOnlyDictionary<string, EndPoint> peers);
}

using Microsoft.Extensions.Logging;
using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;
using PgRaft.Raft.Transport;

namespace PgRaft.Raft.Hosting;

public sealed partial class RaftHost
{
    /// <summary>
    /// A node with the real parts: <see cref="FileRaftStorage"/> in <see cref="RaftHostOptions.DataDirectory"/>,
    /// <see cref="TcpRaftTransport"/> and <see cref="RaftCore"/>. Throws <see cref="ArgumentException"/> naming a bad setting.
    /// </summary>
    public RaftHost(RaftHostOptions options, IStateMachine stateMachine, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null)
        : this(options, stateMachine, loggerFactory, timeProvider ?? TimeProvider.System, Validated(options))
    {
    }

    private RaftHost(RaftHostOptions options, IStateMachine stateMachine, ILoggerFactory loggerFactory, TimeProvider timeProvider, bool _)
        : this(
            options,
            CreateStorage(options, loggerFactory),
            new TcpRaftTransport(options.TransportOptions(), loggerFactory.CreateLogger<TcpRaftTransport>()),
            stateMachine,
            loggerFactory.CreateLogger<RaftHost>(),
            timeProvider,
            persisted => new RaftCoreNode(new RaftCore(CoreOptions(options), persisted, new Random())))
    {
    }

    internal static RaftCoreOptions CoreOptions(RaftHostOptions options) => new()
    {
        Id = options.NodeId,
        ElectionTicks = options.ElectionTicks,
        HeartbeatTicks = options.HeartbeatTicks,
        PreVote = options.PreVote,
        CheckQuorum = options.CheckQuorum,
    };

    private static bool Validated(RaftHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return true;
    }

    private static FileRaftStorage CreateStorage(RaftHostOptions options, ILoggerFactory loggerFactory)
    {
        Directory.CreateDirectory(options.DataDirectory);
        return new FileRaftStorage(options.DataDirectory, loggerFactory.CreateLogger<FileRaftStorage>());
    }
}

using Microsoft.Extensions.Logging;

namespace PgRaft.Node;

/// <summary>Keeper, API and hosting log lines (EventIds 6000–6999).</summary>
internal static partial class LogMessages
{
    [LoggerMessage(EventId = 6000, Level = LogLevel.Warning, Message = "Refused {Path} from {Remote}: {Reason}")]
    public static partial void RefusedApiCall(ILogger logger, string path, string remote, string reason);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Keeper: {Action}")]
    public static partial void KeeperActing(ILogger logger, string action);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "Keeper action {Action} failed: {Error}")]
    public static partial void KeeperActionFailed(ILogger logger, string action, string error, Exception exception);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Debug, Message = "Keeper waits: {Reason}")]
    public static partial void KeeperWaiting(ILogger logger, string reason);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Debug, Message = "Could not reach the leader {Leader} for {Path}: {Error}")]
    public static partial void LeaderUnreachable(ILogger logger, string? leader, string path, string error);

    [LoggerMessage(EventId = 6005, Level = LogLevel.Information, Message = "Lease granted for generation {Generation}; fencing at +{RemainingMs} ms unless renewed")]
    public static partial void LeaseAcquired(ILogger logger, long generation, long remainingMs);

    [LoggerMessage(EventId = 6006, Level = LogLevel.Warning, Message = "Lease for generation {Generation} refused: {Reason}")]
    public static partial void LeaseRefused(ILogger logger, long generation, string reason);

    [LoggerMessage(EventId = 6007, Level = LogLevel.Information, Message = "Raft: {Role} in term {Term}, leader {Leader}")]
    public static partial void RaftRoleChanged(ILogger logger, string role, long term, string leader);

    [LoggerMessage(EventId = 6008, Level = LogLevel.Information, Message = "Handing Raft leadership to {Target}: this node runs the primary, and losing it must not cost an election too")]
    public static partial void TransferringLeadershipAwayFromPrimary(ILogger logger, string target);

    [LoggerMessage(EventId = 6009, Level = LogLevel.Information, Message = "Registering this node as a member: {Member}")]
    public static partial void RegisteringMember(ILogger logger, string member);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Error, Message = "Node loop {Loop} failed; retrying")]
    public static partial void LoopFailed(ILogger logger, string loop, Exception exception);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Information, Message = "pgraft {NodeId} started: raft {Raft}, api {Api}, proxy rw {ProxyReadWrite} ro {ProxyReadOnly}, postgres {Postgres}")]
    public static partial void NodeStarted(ILogger logger, string nodeId, string raft, string api, string proxyReadWrite, string proxyReadOnly, string postgres);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Information, Message = "pgraft {NodeId} stopping")]
    public static partial void NodeStopping(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 6013, Level = LogLevel.Information, Message = "Proxy read-write now routes to {Target} ({Why})")]
    public static partial void ReadWriteRouteChanged(ILogger logger, string target, string why);

    [LoggerMessage(EventId = 6020, Level = LogLevel.Information, Message = "Replication slot {Slot} dropped: {Reason}")]
    public static partial void SlotDropped(ILogger logger, string slot, string reason);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Information, Message = "Replication slot {Slot} made ({Reservation})")]
    public static partial void SlotCreated(ILogger logger, string slot, string reservation);

    [LoggerMessage(EventId = 6030, Level = LogLevel.Warning, Message = "{NodeId} is not a member of the cluster (yet): on a member run `pgraft member add {NodeId} --raft {RaftAddress}`")]
    public static partial void NotAMember(ILogger logger, string nodeId, string raftAddress);

    [LoggerMessage(EventId = 6031, Level = LogLevel.Information, Message = "Raft: learner {NodeId} caught up and is a voter now")]
    public static partial void LearnerPromoted(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 6032, Level = LogLevel.Information, Message = "Loop {Loop}: Raft leadership changed during the round ({Reason}); the next round goes to the new leader")]
    public static partial void LoopLostLeader(ILogger logger, string loop, string reason);
}

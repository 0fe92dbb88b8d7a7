using PgRaft.Node.Api;
using PgRaft.Node.Leader;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;
using PgRaft.Raft.Core;

namespace PgRaft.Node.Tests.Simulation;

/// <summary>What travels between simulated nodes.</summary>
internal abstract record SimPayload;

internal sealed record RaftPayload(RaftMessage Message) : SimPayload;

/// <summary>A keeper's status report to the Raft leader.</summary>
internal sealed record ReportPayload(KeeperReport Report) : SimPayload;

/// <summary>The leader's ack of a report: the reading of its clock that the keeper's next report echoes, and every node's health.</summary>
internal sealed record ReportAckPayload(LeaderClockReading Clock, IReadOnlyList<NodeHealth> Nodes) : SimPayload;

internal sealed record LeaseRequestPayload(long RequestId, LeaseRequest Request) : SimPayload;

internal sealed record LeaseResponsePayload(long RequestId, bool Granted, string Reason) : SimPayload;

/// <summary>A command forwarded to the leader (member registration, the post-bootstrap record, an operator's switchover).</summary>
internal sealed record ProposePayload(byte[] Command) : SimPayload;

internal sealed record Envelope(long Sequence, string From, string To, long DeliverAt, SimPayload Payload);

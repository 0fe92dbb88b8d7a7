namespace PgRaft.Raft.Core;

/// <summary>Settings of one <see cref="RaftCore"/>. All durations are in ticks (the host decides how long a tick is).</summary>
public sealed class RaftCoreOptions
{
    /// <summary>This node's id; must be non-empty and match the id the peers use for it.</summary>
    public string Id { get; set; } = "";

    /// <summary>Base election timeout; the actual timeout is randomised in [ElectionTicks, 2*ElectionTicks).</summary>
    public int ElectionTicks { get; set; } = 20;

    /// <summary>Ticks between leader heartbeats; must be below <see cref="ElectionTicks"/>.</summary>
    public int HeartbeatTicks { get; set; } = 2;

    /// <summary>Run a pre-election round that does not raise terms, so a partitioned node cannot disrupt the majority.</summary>
    public bool PreVote { get; set; } = true;

    /// <summary>A leader steps down when it has not heard from a quorum within an election timeout; followers that heard from a leader recently ignore (pre)votes.</summary>
    public bool CheckQuorum { get; set; } = true;

    /// <summary>Most entries in one Append message.</summary>
    public int MaxEntriesPerAppend { get; set; } = 256;

    /// <summary>Most unacknowledged Append messages per follower in the replicating state.</summary>
    public int MaxInflightAppends { get; set; } = 64;

    /// <summary>A learner counts as caught up (may be promoted) when its matched index is at most this many entries below the leader's commit index.</summary>
    public long MaxPromoteLag { get; set; } = 0;

    /// <summary>Test-only: deliberately breaks the protocol so tests can prove the checkers catch it. Never set in production.</summary>
    internal CoreFault Fault { get; set; } = CoreFault.None;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Id))
        {
            throw new ArgumentException("RaftCoreOptions.Id must be a non-empty node id.", nameof(Id));
        }

        if (ElectionTicks < 2)
        {
            throw new ArgumentException($"RaftCoreOptions.ElectionTicks must be at least 2 (was {ElectionTicks}).", nameof(ElectionTicks));
        }

        if (HeartbeatTicks < 1 || HeartbeatTicks >= ElectionTicks)
        {
            throw new ArgumentException(
                $"RaftCoreOptions.HeartbeatTicks must be at least 1 and below ElectionTicks ({ElectionTicks}) (was {HeartbeatTicks}).", nameof(HeartbeatTicks));
        }

        if (MaxEntriesPerAppend < 1)
        {
            throw new ArgumentException($"RaftCoreOptions.MaxEntriesPerAppend must be at least 1 (was {MaxEntriesPerAppend}).", nameof(MaxEntriesPerAppend));
        }

        if (MaxInflightAppends < 1)
        {
            throw new ArgumentException($"RaftCoreOptions.MaxInflightAppends must be at least 1 (was {MaxInflightAppends}).", nameof(MaxInflightAppends));
        }

        if (MaxPromoteLag < 0)
        {
            throw new ArgumentException($"RaftCoreOptions.MaxPromoteLag must not be negative (was {MaxPromoteLag}).", nameof(MaxPromoteLag));
        }
    }
}

/// <summary>Deliberate protocol violations for testing the checkers (test-only).</summary>
[Flags]
internal enum CoreFault
{
    None = 0,

    /// <summary>Grant votes without comparing logs (breaks leader completeness).</summary>
    SkipVoteLogCheck = 1,

    /// <summary>Commit what the most advanced voter has (a minority), not a quorum.</summary>
    CommitOnMinority = 2,

    /// <summary>Count the leader's own unpersisted entries as durable.</summary>
    CountUnpersistedSelf = 4,

    /// <summary>Commit an entry of an earlier term once a quorum holds it (the Raft paper's figure 8 mistake).</summary>
    CommitEarlierTermsByCount = 8,
}

namespace PgRaft.Raft.Core;

/// <summary>The leader's view of one other member (from <see cref="RaftCore.Followers"/>).</summary>
/// <param name="Id">The member's node id.</param>
/// <param name="Match">Highest log index known to be durable on it.</param>
/// <param name="IsLearner">True for a non-voting member.</param>
/// <param name="RecentlyActive">It answered this leader within the last election timeout (ElectionTicks ticks).</param>
public readonly record struct FollowerStatus(string Id, long Match, bool IsLearner, bool RecentlyActive);

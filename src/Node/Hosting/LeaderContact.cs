namespace PgRaft.Node.Hosting;

/// <summary>
/// Whether this node follows (or is) a Raft leader, for the read-write proxy. A handover of leadership leaves every
/// node without a known leader for the few milliseconds of one election; that is not lost contact, and cutting every
/// client over it would turn each handover into an outage. A real loss of contact shows first as an election timeout
/// (at least 500 ms without a leader's word), so the grace adds little to how soon the proxy cuts.
/// </summary>
internal sealed class LeaderContact(TimeSpan grace)
{
    private TimeSpan? _leaderKnownAt;

    public bool Observe(string? leaderId, TimeSpan now)
    {
        if (leaderId is not null)
        {
            _leaderKnownAt = now;
            return true;
        }

        return _leaderKnownAt is { } known && now - known < grace;
    }
}

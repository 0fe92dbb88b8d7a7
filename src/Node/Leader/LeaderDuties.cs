using PgRaft.Node.Cluster;
using PgRaft.Node.Lease;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Leader;

/// <summary>
/// The soft state only the Raft leader keeps: keeper reports and the lease table. Both start afresh with every term
/// this node leads (a new leader cannot know what an old one granted: DESIGN §7 rule 4).
/// </summary>
internal sealed class LeaderDuties(MonotonicClock clock)
{
    private readonly Lock _gate = new();
    private ReportTable _reports = ReportTable.Empty;
    private LeaseTable _leases = LeaseTable.StartTerm(TimeSpan.Zero);
    private long _term = -1;

    public MonotonicClock Clock => clock;

    /// <summary>Starts a term's bookkeeping once; later calls for the same term change nothing.</summary>
    public void EnsureTerm(long term)
    {
        lock (_gate)
        {
            if (_term != term)
            {
                _term = term;
                _reports = ReportTable.Empty;
                _leases = LeaseTable.StartTerm(clock.Now);
            }
        }
    }

    public void Accept(KeeperReport report)
    {
        lock (_gate)
        {
            _reports = _reports.With(report with { ReceivedAt = clock.Now });
        }
    }

    /// <summary>Records a grant decided at <paramref name="decidedAt"/> in <paramref name="term"/>; false when the term moved on meanwhile.</summary>
    public bool RecordGrant(long term, string nodeId, TimeSpan decidedAt)
    {
        lock (_gate)
        {
            if (_term != term)
            {
                return false;
            }

            _leases = _leases.WithGrant(nodeId, decidedAt);
            return true;
        }
    }

    public (ReportTable Reports, LeaseTable Leases) Snapshot()
    {
        lock (_gate)
        {
            return (_reports, _leases);
        }
    }
}

/// <summary>This process's monotonic time since it started, as a <see cref="TimeSpan"/>.</summary>
internal sealed class MonotonicClock(TimeProvider time)
{
    private readonly long _origin = time.GetTimestamp();

    public TimeProvider TimeProvider => time;

    public TimeSpan Now => time.GetElapsedTime(_origin);
}

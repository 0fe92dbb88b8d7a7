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
    private (string NodeId, long Generation)? _revoked;
    private bool _replacementMayBePending;

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
                _revoked = null;
                _replacementMayBePending = false;
            }
        }
    }

    /// <summary>
    /// Stamps <paramref name="report"/> (arrival, and observed-at from its echo: <see cref="ReportStamp"/>) and keeps it;
    /// returns the reading of this leader's clock the ack carries back, for the keeper's next report to echo.
    /// </summary>
    public LeaderClockReading Accept(KeeperReport report, string leaderId, ClusterSpec spec)
    {
        lock (_gate)
        {
            var now = clock.Now;
            var observedAt = ReportStamp.Compute(report.ObservedAfter, leaderId, _term, now, spec);
            _reports = _reports.With(report with { ReceivedAt = now, ObservedAt = observedAt });
            return new LeaderClockReading(leaderId, _term, clock.Now);
        }
    }

    /// <summary>
    /// Records a grant to <paramref name="nodeId"/> at <paramref name="generation"/> decided now in <paramref name="term"/>;
    /// false (no grant) when the term moved on or the sentinel revoked that primary's leases at this or a later generation.
    /// </summary>
    public bool RecordGrant(long term, string nodeId, long generation)
    {
        lock (_gate)
        {
            // A keeper may ask at an older generation that still named it primary (LeaseGrantRule grants those), so
            // the revocation covers every generation up to the revoked one, not just that one.
            if (_term != term || (_revoked is { } revoked && revoked.NodeId == nodeId && generation <= revoked.Generation))
            {
                return false;
            }

            var decidedAt = clock.Now;

            _leases = _leases.WithGrant(nodeId, decidedAt);
            return true;
        }
    }

    /// <summary>
    /// Before proposing a view that replaces <paramref name="primary"/>: stops all further grants to it at
    /// <paramref name="generation"/>, then says whether every lease it could hold has run out. Without the revocation a
    /// grant could slip in between the sentinel's check and the new view being applied.
    /// </summary>
    public bool RevokeAndCheckExpired(string primary, long generation, TimeSpan leaseTimeout, TimeSpan driftMargin)
    {
        lock (_gate)
        {
            _revoked = (primary, generation);
            return clock.Now >= _leases.ExpiredAt(primary, leaseTimeout, driftMargin);
        }
    }

    /// <summary>
    /// Lifts the revocation once the sentinel no longer replaces that primary and no proposal that would can still be
    /// applied (it never entered the log, was rejected when applied, or the sentinel changed its mind while waiting for
    /// the lease to run out). Left in place, it would keep a primary nobody replaced (a cancelled switchover, a failover
    /// that found no candidate after all) from ever renewing its lease in this term.
    /// </summary>
    public void LiftRevocation()
    {
        lock (_gate)
        {
            if (!_replacementMayBePending)
            {
                _revoked = null;
            }
        }
    }

    /// <summary>
    /// A proposal replacing the revoked primary timed out: it may still be applied, so the revocation stays for the rest
    /// of the term.
    /// </summary>
    public void ReplacementMayBePending()
    {
        lock (_gate)
        {
            _replacementMayBePending = true;
        }
    }

    /// <summary>Notes which node the view names primary, so its failure is timed from its naming at the earliest.</summary>
    public void ObservePrimary(string? primary)
    {
        lock (_gate)
        {
            _leases = _leases.WithNamedPrimary(primary, clock.Now);
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

using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Tests.Simulation;

/// <summary>
/// A simulated PostgreSQL data directory and postmaster under its guard. WAL is a list of record ids, unique across
/// the whole simulation (a row written, a timeline switch), so two WALs agree up to position i exactly when they hold
/// the same record at i: a copy (clone, rewind, streaming) always copies a whole prefix. Like a real data directory it
/// keeps its timeline history (<see cref="Branches"/>: each timeline it went through and where that forked), so two
/// servers that promoted from the same parent are on same-numbered timelines told apart by their fork points.
/// </summary>
internal sealed class SimPostgres(SimClock clock)
{
    private const ulong WalBase = 0x1000000UL;
    private const ulong RecordSize = 0x100UL;

    public bool Initialized { get; private set; }
    public ulong SystemIdentifier { get; private set; }
    public bool Running { get; private set; }

    /// <summary>standby.signal: the server runs (or will start) in recovery.</summary>
    public bool StandbySignal { get; private set; }

    public List<long> Wal { get; private set; } = [];
    public int Timeline { get; private set; }

    /// <summary>The timeline history: timelines 2.. up to <see cref="Timeline"/>, each with its fork point (pg_wal/*.history).</summary>
    public List<TimelineBranch> Branches { get; private set; } = [];

    /// <summary>Where the current timeline forked from its parent (the last line of its history file); null on timeline 1.</summary>
    public Lsn? TimelineFork => Branches.Count > 0 ? Branches[^1].ForkLsn : null;

    /// <summary>pg_stat_wal_receiver.status = 'streaming': set by the simulation's network each step.</summary>
    public bool Streaming { get; set; }

    /// <summary>primary_conninfo: the node this server streams from while in recovery.</summary>
    public string? Conninfo { get; set; }

    /// <summary>synchronous_standby_names in postgresql.conf, and what the running server uses (after start or reload).</summary>
    public SyncConfig ConfiguredSync { get; private set; } = SyncConfig.Async;
    public SyncConfig EffectiveSync { get; private set; } = SyncConfig.Async;

    /// <summary>The guard's deadline on this machine's clock; null while it runs open (no lease needed, a standby).</summary>
    public TimeSpan? GuardDeadline { get; private set; }

    public bool Writable => Running && !StandbySignal;

    public PgRole Role => !Initialized ? PgRole.Uninitialized : StandbySignal ? PgRole.Standby : PgRole.Primary;

    public Lsn Position => new(WalBase + ((ulong)Wal.Count * RecordSize));

    public string? LastStopReason { get; private set; }

    public void Initialize(ulong systemIdentifier, long initRecord)
    {
        Initialized = true;
        SystemIdentifier = systemIdentifier;
        Wal = [initRecord];
        Timeline = 1;
        Branches = [];
        StandbySignal = false;
        Running = false;
        Conninfo = null;
    }

    /// <summary>pg_basebackup or pg_rewind from <paramref name="source"/>: the data becomes a copy of the source's, as a standby of it.</summary>
    public void CopyFrom(SimPostgres source, string sourceId)
    {
        Initialized = true;
        SystemIdentifier = source.SystemIdentifier;
        Wal = [.. source.Wal];
        Timeline = source.Timeline;
        Branches = [.. source.Branches];
        StandbySignal = true;
        Running = false;
        Conninfo = sourceId;
        ConfiguredSync = SyncConfig.Async;
    }

    public void Configure(SyncConfig sync)
    {
        ConfiguredSync = sync;
        if (Running)
        {
            EffectiveSync = sync; // reload
        }
    }

    public void Start(bool asStandby, TimeSpan? leaseRemaining)
    {
        Running = true;
        Streaming = false;
        StandbySignal = asStandby;
        EffectiveSync = ConfiguredSync;
        GuardDeadline = leaseRemaining is { } remaining ? clock.Now + remaining : null;
        LastStopReason = null;
    }

    /// <summary>The guard takes a new deadline (now + remaining); false when no postmaster runs.</summary>
    public bool RenewLease(TimeSpan remaining)
    {
        if (!Running)
        {
            return false;
        }

        GuardDeadline = clock.Now + remaining;
        return true;
    }

    /// <summary>The new timeline forks where the replayed WAL ends, as the history file PostgreSQL writes records.</summary>
    public void Promote(long promoteRecord)
    {
        StandbySignal = false;
        Streaming = false;
        Branches.Add(new TimelineBranch(Timeline + 1, Position));
        Wal.Add(promoteRecord);
        Timeline++;
    }

    public void Stop(string reason)
    {
        if (Running)
        {
            LastStopReason = reason;
        }

        Running = false;
        Streaming = false;
        GuardDeadline = null;
    }

    /// <summary>The guard stops the postmaster when its deadline passes unrenewed.</summary>
    public bool GuardCheck()
    {
        if (Running && GuardDeadline is { } deadline && clock.Now >= deadline)
        {
            Stop("guard deadline");
            return true;
        }

        return false;
    }

    /// <summary>True when this WAL is a prefix of <paramref name="other"/>'s (so it can stream from it).</summary>
    public bool IsPrefixOf(SimPostgres other) =>
        Wal.Count <= other.Wal.Count && (Wal.Count == 0 || other.Wal[Wal.Count - 1] == Wal[^1]);

    /// <summary>
    /// True when this server can stream from <paramref name="upstream"/>: every timeline of its history is on the
    /// upstream's with the same fork point, and its WAL is a prefix of the upstream's. PostgreSQL checks only the
    /// timeline number when a standby asks to stream, then fails on the mismatched records and retries for ever.
    /// </summary>
    public bool CanStreamFrom(SimPostgres upstream) =>
        Branches.All(b => upstream.Branches.Contains(b)) && IsPrefixOf(upstream);

    public void Append(long record) => Wal.Add(record);

    /// <summary>
    /// Streams up to <paramref name="count"/> records from <paramref name="upstream"/>; refuses (false) unless
    /// <see cref="CanStreamFrom"/>. A timeline switch record brings the upstream's history entry for the new timeline.
    /// </summary>
    public bool Receive(SimPostgres upstream, int count, Func<long, bool> isTimelineSwitch)
    {
        if (!CanStreamFrom(upstream))
        {
            return false;
        }

        var end = Math.Min(upstream.Wal.Count, Wal.Count + count);
        for (var i = Wal.Count; i < end; i++)
        {
            var record = upstream.Wal[i];
            if (isTimelineSwitch(record))
            {
                Branches.Add(new TimelineBranch(Timeline + 1, Position));
                Timeline++;
            }

            Wal.Add(record);
        }

        return true;
    }
}

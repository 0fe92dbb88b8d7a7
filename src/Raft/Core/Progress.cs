namespace PgRaft.Raft.Core;

internal enum ProgressState : byte
{
    /// <summary>Unknown match: send one Append at a time and wait for the answer.</summary>
    Probe = 0,

    /// <summary>Matching: stream Appends optimistically, up to the inflight limit.</summary>
    Replicate = 1,

    /// <summary>A snapshot was sent; wait for it to be acknowledged.</summary>
    Snapshot = 2,
}

/// <summary>The leader's view of one follower (etcd-raft style).</summary>
internal sealed class Progress(long next, int maxInflight)
{
    private readonly Queue<long> inflights = new();

    public long Match { get; private set; }

    public long Next { get; private set; } = next;

    public ProgressState State { get; private set; } = ProgressState.Probe;

    public long PendingSnapshot { get; private set; }

    /// <summary>Ticks since the snapshot was sent (retried after an election timeout).</summary>
    public int SnapshotElapsed { get; set; }

    /// <summary>Answered since the leader's last quorum check (CheckQuorum bookkeeping).</summary>
    public bool RecentActive { get; set; } = true;

    /// <summary>Leader ticks since this peer last answered; starts high (never heard from this leadership).</summary>
    public int TicksSinceHeard { get; set; } = int.MaxValue / 2;

    /// <summary>In probe state: an Append is out, wait for its answer or a heartbeat answer.</summary>
    public bool ProbeSent { get; set; }

    /// <summary>Highest read-index round this peer acknowledged.</summary>
    public long ReadAck { get; set; }

    public bool IsPaused => State switch
    {
        ProgressState.Probe => ProbeSent,
        ProgressState.Replicate => inflights.Count >= maxInflight,
        _ => true,
    };

    public bool InflightsFull => inflights.Count >= maxInflight;

    public void BecomeProbe()
    {
        if (State == ProgressState.Snapshot)
        {
            var pending = PendingSnapshot;
            Reset(ProgressState.Probe);
            Next = Math.Max(Match + 1, pending + 1);
        }
        else
        {
            Reset(ProgressState.Probe);
            Next = Match + 1;
        }
    }

    public void BecomeReplicate()
    {
        Reset(ProgressState.Replicate);
        Next = Match + 1;
    }

    public void BecomeSnapshot(long snapshotIndex)
    {
        Reset(ProgressState.Snapshot);
        PendingSnapshot = snapshotIndex;
    }

    /// <summary>A success answer up to <paramref name="index"/>; true when Match rose.</summary>
    public bool MaybeUpdate(long index)
    {
        var updated = false;
        if (Match < index)
        {
            Match = index;
            updated = true;
            ProbeSent = false;
        }

        Next = Math.Max(Next, index + 1);
        return updated;
    }

    /// <summary>A rejection of the Append whose previous index was <paramref name="rejected"/>; true when Next moved back.</summary>
    public bool MaybeDecrTo(long rejected, long matchHint)
    {
        if (State == ProgressState.Replicate)
        {
            if (rejected <= Match)
            {
                return false;
            }

            Next = Match + 1;
            return true;
        }

        if (Next - 1 != rejected)
        {
            return false;
        }

        Next = Math.Max(Math.Min(rejected, matchHint + 1), Match + 1);
        ProbeSent = false;
        return true;
    }

    public void SentEntries(long lastIndex)
    {
        switch (State)
        {
            case ProgressState.Replicate:
                Next = lastIndex + 1;
                inflights.Enqueue(lastIndex);
                break;
            case ProgressState.Probe:
                ProbeSent = true;
                break;
        }
    }

    public void FreeInflightsUpTo(long index)
    {
        while (inflights.Count > 0 && inflights.Peek() <= index)
        {
            inflights.Dequeue();
        }
    }

    public void FreeFirstInflight()
    {
        if (inflights.Count > 0)
        {
            inflights.Dequeue();
        }
    }

    private void Reset(ProgressState state)
    {
        State = state;
        ProbeSent = false;
        PendingSnapshot = 0;
        SnapshotElapsed = 0;
        inflights.Clear();
    }
}

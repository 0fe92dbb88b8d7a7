namespace PgRaft.Raft.Hosting;

/// <summary>The replicated state machine that the host applies committed commands to.</summary>
public interface IStateMachine
{
    /// <summary>Applies one committed command (index given for idempotence); returns a result handed to the proposer.</summary>
    object? Apply(long index, ReadOnlySpan<byte> command);

    /// <summary>Serialises the whole state as of the last applied index.</summary>
    byte[] TakeSnapshot();

    /// <summary>Replaces the whole state with a snapshot's.</summary>
    void Restore(ReadOnlySpan<byte> snapshot);
}

using System.Buffers.Binary;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Tests.Simulation;

/// <summary>A state machine that is a hash chain over every applied entry: two nodes agree iff their chains agree.</summary>
internal sealed class SimStateMachine
{
    public long AppliedIndex { get; private set; }

    public ulong Hash { get; private set; }

    public static ulong Mix(ulong hash, LogEntry entry)
    {
        hash = Step(hash, (ulong)entry.Index);
        hash = Step(hash, (ulong)entry.Term);
        hash = Step(hash, (ulong)entry.Kind);
        foreach (var b in entry.Data.Span)
        {
            hash = Step(hash, b);
        }

        return Step(hash, (ulong)entry.Data.Length);
    }

    public void Apply(LogEntry entry)
    {
        if (entry.Index != AppliedIndex + 1)
        {
            throw new SimulationFailureException($"applied entry {entry.Index} after {AppliedIndex} (gap or repeat)");
        }

        Hash = Mix(Hash, entry);
        AppliedIndex = entry.Index;
    }

    public byte[] TakeSnapshot()
    {
        var data = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(data, AppliedIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(8), Hash);
        return data;
    }

    public void Restore(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0)
        {
            AppliedIndex = 0;
            Hash = 0;
            return;
        }

        AppliedIndex = BinaryPrimitives.ReadInt64LittleEndian(data);
        Hash = BinaryPrimitives.ReadUInt64LittleEndian(data[8..]);
    }

    private static ulong Step(ulong hash, ulong value) => (hash ^ value) * 0x100000001B3UL + 0x9E3779B97F4A7C15UL;
}

internal sealed class SimulationFailureException(string message) : Exception(message);

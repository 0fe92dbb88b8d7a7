using System.Buffers;
using System.Collections.Immutable;
using PgRaft.Raft.Transport;

namespace PgRaft.Raft.Hosting;

/// <summary>
/// What the host puts inside command entries and snapshots, around the user's state machine:
/// a command entry is a tag byte (1: user command, 2: address-book update) then its body; a snapshot's data is a
/// version byte, the member address book, then the state machine's snapshot. The address book thus travels in the log
/// and in snapshots, so every node (and a restarted one) knows where every member listens.
/// An empty command is the leader's no-op and reaches no one.
/// </summary>
internal static class HostFormat
{
    public const byte UserCommandTag = 1;
    public const byte AddressTag = 2;
    private const byte SnapshotVersion = 1;

    public static byte[] UserCommand(ReadOnlySpan<byte> command)
    {
        var bytes = new byte[command.Length + 1];
        bytes[0] = UserCommandTag;
        command.CopyTo(bytes.AsSpan(1));
        return bytes;
    }

    /// <summary>An address-book update; an empty address removes the entry.</summary>
    public static byte[] AddressUpdate(string nodeId, string address)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new RaftMessageCodec.Writer(buffer);
        writer.Byte(AddressTag);
        writer.String(nodeId);
        writer.String(address);
        return buffer.WrittenSpan.ToArray();
    }

    public static (string NodeId, string Address) DecodeAddressUpdate(ReadOnlyMemory<byte> entry)
    {
        var reader = new RaftMessageCodec.Reader(entry[1..]);
        var id = reader.String("node id");
        var address = reader.String("address");
        return (id, address);
    }

    public static byte[] Snapshot(IReadOnlyDictionary<string, string> addressBook, ReadOnlySpan<byte> stateMachineSnapshot)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new RaftMessageCodec.Writer(buffer);
        writer.Byte(SnapshotVersion);
        writer.Int32(addressBook.Count);
        foreach (var (id, address) in addressBook.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            writer.String(id);
            writer.String(address);
        }

        buffer.Write(stateMachineSnapshot);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Splits a snapshot's data; empty data (a bootstrap snapshot from elsewhere) means no addresses and an empty state.</summary>
    public static (ImmutableDictionary<string, string> AddressBook, ReadOnlyMemory<byte> StateMachine) ReadSnapshot(ReadOnlyMemory<byte> data)
    {
        if (data.IsEmpty)
        {
            return (ImmutableDictionary.Create<string, string>(StringComparer.Ordinal), ReadOnlyMemory<byte>.Empty);
        }

        var reader = new RaftMessageCodec.Reader(data);
        var version = reader.Byte("snapshot version");
        if (version != SnapshotVersion)
        {
            throw new FormatException($"Raft snapshot has host format version {version}; this pgraft reads version {SnapshotVersion}.");
        }

        var count = reader.Int32("address count");
        if (count < 0 || count > reader.Remaining / 8)
        {
            throw new FormatException($"Raft snapshot address count {count} is invalid.");
        }

        var book = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var id = reader.String("node id");
            book[id] = reader.String("address");
        }

        return (book.ToImmutable(), data[(data.Length - reader.Remaining)..]);
    }
}

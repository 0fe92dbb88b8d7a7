using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Transport;

/// <summary>
/// Versioned binary encoding of <see cref="RaftMessage"/> (little-endian, length-prefixed fields).
/// Decoding anything malformed throws <see cref="FormatException"/> and nothing else.
/// </summary>
internal static class RaftMessageCodec
{
    public const byte Version = 1;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] Encode(RaftMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        Encode(message, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Encode(RaftMessage message, IBufferWriter<byte> output)
    {
        var writer = new Writer(output);
        writer.Byte(Version);
        writer.Byte((byte)message.Type);
        writer.String(message.From);
        writer.String(message.To);
        writer.Int64(message.Term);
        writer.Int64(message.LogTerm);
        writer.Int64(message.Index);
        writer.Int64(message.Commit);
        writer.Byte(message.Reject ? (byte)1 : (byte)0);
        writer.Int64(message.RejectHint);
        writer.Bytes(message.Context.Span);
        writer.Int32(message.Entries.Count);
        foreach (var entry in message.Entries)
        {
            writer.Int64(entry.Index);
            writer.Int64(entry.Term);
            writer.Byte((byte)entry.Kind);
            writer.Bytes(entry.Data.Span);
        }

        if (message.Snapshot is { } snapshot)
        {
            writer.Byte(1);
            writer.Int64(snapshot.Metadata.Index);
            writer.Int64(snapshot.Metadata.Term);
            writer.StringSet(snapshot.Metadata.Membership.Voters);
            writer.StringSet(snapshot.Metadata.Membership.Learners);
            writer.Bytes(snapshot.Data.Span);
        }
        else
        {
            writer.Byte(0);
        }
    }

    /// <summary>Decodes one message. Byte fields of the result are slices of <paramref name="payload"/> (not copied).</summary>
    public static RaftMessage Decode(ReadOnlyMemory<byte> payload)
    {
        var reader = new Reader(payload);
        var version = reader.Byte("version");
        if (version != Version)
        {
            throw new FormatException($"Raft message codec version {version} is not supported; this node speaks version {Version}. Run the same pgraft version on all nodes.");
        }

        var typeByte = reader.Byte("type");
        if (!Enum.IsDefined((MessageType)typeByte))
        {
            throw new FormatException($"Raft message has unknown type {typeByte}.");
        }

        var from = reader.String("from");
        var to = reader.String("to");
        var term = reader.Int64("term");
        var logTerm = reader.Int64("logTerm");
        var index = reader.Int64("index");
        var commit = reader.Int64("commit");
        var reject = reader.Byte("reject") switch
        {
            0 => false,
            1 => true,
            var other => throw new FormatException($"Raft message field 'reject' has invalid value {other}."),
        };
        var rejectHint = reader.Int64("rejectHint");
        var context = reader.Bytes("context");
        var entryCount = reader.Int32("entry count");
        // Each entry takes at least 21 bytes: refuse counts the payload cannot hold before allocating.
        if (entryCount < 0 || entryCount > reader.Remaining / 21)
        {
            throw new FormatException($"Raft message entry count {entryCount} does not fit the {reader.Remaining} remaining bytes.");
        }

        var entries = entryCount == 0 ? (IReadOnlyList<LogEntry>)[] : new LogEntry[entryCount];
        for (var i = 0; i < entryCount; i++)
        {
            var entryIndex = reader.Int64("entry index");
            var entryTerm = reader.Int64("entry term");
            var kindByte = reader.Byte("entry kind");
            if (!Enum.IsDefined((EntryKind)kindByte))
            {
                throw new FormatException($"Raft log entry has unknown kind {kindByte}.");
            }

            ((LogEntry[])entries)[i] = new LogEntry(entryIndex, entryTerm, (EntryKind)kindByte, reader.Bytes("entry data"));
        }

        Snapshot? snapshot = null;
        switch (reader.Byte("snapshot flag"))
        {
            case 0:
                break;
            case 1:
                var snapshotIndex = reader.Int64("snapshot index");
                var snapshotTerm = reader.Int64("snapshot term");
                var voters = reader.StringSet("voters");
                var learners = reader.StringSet("learners");
                var data = reader.Bytes("snapshot data");
                snapshot = new Snapshot(new SnapshotMetadata(snapshotIndex, snapshotTerm, new Membership(voters, learners)), data);
                break;
            case var other:
                throw new FormatException($"Raft message snapshot flag has invalid value {other}.");
        }

        if (reader.Remaining != 0)
        {
            throw new FormatException($"Raft message has {reader.Remaining} unexpected trailing bytes.");
        }

        return new RaftMessage
        {
            Type = (MessageType)typeByte,
            From = from,
            To = to,
            Term = term,
            LogTerm = logTerm,
            Index = index,
            Commit = commit,
            Reject = reject,
            RejectHint = rejectHint,
            Context = context,
            Entries = entries,
            Snapshot = snapshot,
        };
    }

    internal ref struct Writer(IBufferWriter<byte> output)
    {
        private readonly IBufferWriter<byte> _output = output;

        public readonly void Byte(byte value)
        {
            _output.GetSpan(1)[0] = value;
            _output.Advance(1);
        }

        public readonly void Int32(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_output.GetSpan(4), value);
            _output.Advance(4);
        }

        public readonly void Int64(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_output.GetSpan(8), value);
            _output.Advance(8);
        }

        public readonly void Bytes(ReadOnlySpan<byte> value)
        {
            Int32(value.Length);
            _output.Write(value);
        }

        public readonly void String(string value)
        {
            var length = StrictUtf8.GetByteCount(value);
            Int32(length);
            StrictUtf8.GetBytes(value, _output.GetSpan(length));
            _output.Advance(length);
        }

        public readonly void StringSet(ImmutableSortedSet<string> values)
        {
            Int32(values.Count);
            foreach (var value in values)
            {
                String(value);
            }
        }
    }

    internal struct Reader(ReadOnlyMemory<byte> payload)
    {
        private readonly ReadOnlyMemory<byte> _payload = payload;
        private int _position;

        public readonly int Remaining => _payload.Length - _position;

        private ReadOnlySpan<byte> Take(int count, string field)
        {
            if (count < 0 || count > Remaining)
            {
                throw new FormatException($"Raft message is truncated or malformed at field '{field}' (needs {count} bytes, {Remaining} left).");
            }

            var span = _payload.Span.Slice(_position, count);
            _position += count;
            return span;
        }

        public byte Byte(string field) => Take(1, field)[0];

        public int Int32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, field));

        public long Int64(string field) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, field));

        public ReadOnlyMemory<byte> Bytes(string field)
        {
            var length = Int32(field);
            var start = _position;
            Take(length, field);
            return _payload.Slice(start, length);
        }

        public string String(string field)
        {
            var bytes = Take(Int32(field), field);
            try
            {
                return StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException e)
            {
                throw new FormatException($"Raft message field '{field}' is not valid UTF-8.", e);
            }
        }

        public ImmutableSortedSet<string> StringSet(string field)
        {
            var count = Int32(field);
            if (count < 0 || count > Remaining / 4)
            {
                throw new FormatException($"Raft message field '{field}' count {count} does not fit the {Remaining} remaining bytes.");
            }

            var builder = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
            for (var i = 0; i < count; i++)
            {
                builder.Add(String(field));
            }

            return builder.ToImmutable();
        }
    }
}

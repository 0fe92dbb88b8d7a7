using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Storage;

internal enum RecordKind : byte
{
    // 0 is never valid, so zero-filled space is never mistaken for a record.
    SegmentHeader = 1,
    Entry = 2,
    HardState = 3,
    SnapshotMarker = 4,
}

/// <summary>
/// Frames of a log segment, each 8-byte aligned:
/// <c>u32 payloadLength | u8 kind | 3 zero bytes | u32 crc32c(first 8 header bytes + payload) | payload | zero padding</c>.
/// The CRC is seeded with a salt derived from the segment's sequence number (its file name), so stale blocks of another
/// segment that a crash might expose at the end of this one never pass as valid records.
/// </summary>
internal static class RecordFormat
{
    public const int HeaderSize = 12;
    public const int Alignment = 8;
    public const int MaxPayload = 256 * 1024 * 1024;
    public const ulong SegmentMagic = 0x474C_5446_4152_4750; // "PGRAFTLG" little-endian
    public const int SegmentVersion = 1;
    public const int MaxVoteBytes = 1024;

    public static int FrameSize(int payloadLength) => Align(HeaderSize + payloadLength);

    public static int Align(int size) => (size + Alignment - 1) & ~(Alignment - 1);

    /// <summary>Reserves a frame for <paramref name="payloadLength"/> bytes; fill the payload span and call <see cref="Seal"/>.</summary>
    public static Span<byte> Begin(ArrayBufferWriter<byte> writer, RecordKind kind, int payloadLength, out int frameSize)
    {
        frameSize = FrameSize(payloadLength);
        var frame = writer.GetSpan(frameSize)[..frameSize];
        frame.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payloadLength);
        frame[4] = (byte)kind;
        return frame;
    }

    public static void Seal(ArrayBufferWriter<byte> writer, Span<byte> frame, int payloadLength, uint salt)
    {
        var crc = Crc32C.Append(Crc32C.Start ^ salt, frame[..8]);
        crc = Crc32C.Finish(Crc32C.Append(crc, frame.Slice(HeaderSize, payloadLength)));
        BinaryPrimitives.WriteUInt32LittleEndian(frame[8..], crc);
        writer.Advance(frame.Length);
    }

    public static uint SaltFor(long sequence) => (uint)((ulong)sequence * 0x9E37_79B9_7F4A_7C15UL >> 32);

    public static void WriteSegmentHeader(ArrayBufferWriter<byte> writer, long sequence)
    {
        const int length = 8 + 4 + 8;
        var salt = SaltFor(sequence);
        var frame = Begin(writer, RecordKind.SegmentHeader, length, out _);
        var p = frame[HeaderSize..];
        BinaryPrimitives.WriteUInt64LittleEndian(p, SegmentMagic);
        BinaryPrimitives.WriteInt32LittleEndian(p[8..], SegmentVersion);
        BinaryPrimitives.WriteInt64LittleEndian(p[12..], sequence);
        Seal(writer, frame, length, salt);
    }

    public static void WriteEntry(ArrayBufferWriter<byte> writer, uint salt, LogEntry entry)
    {
        var length = 17 + entry.Data.Length;
        var frame = Begin(writer, RecordKind.Entry, length, out _);
        var p = frame[HeaderSize..];
        BinaryPrimitives.WriteInt64LittleEndian(p, entry.Index);
        BinaryPrimitives.WriteInt64LittleEndian(p[8..], entry.Term);
        p[16] = (byte)entry.Kind;
        entry.Data.Span.CopyTo(p[17..]);
        Seal(writer, frame, length, salt);
    }

    public static void WriteHardState(ArrayBufferWriter<byte> writer, uint salt, HardState state)
    {
        var voteLength = state.VotedFor is null ? 0 : Encoding.UTF8.GetByteCount(state.VotedFor);
        if (voteLength > MaxVoteBytes)
        {
            throw new ArgumentException($"The voted-for node id is {voteLength} bytes long; at most {MaxVoteBytes} are allowed.", nameof(state));
        }

        var length = 17 + voteLength;
        var frame = Begin(writer, RecordKind.HardState, length, out _);
        var p = frame[HeaderSize..];
        BinaryPrimitives.WriteInt64LittleEndian(p, state.Term);
        BinaryPrimitives.WriteInt64LittleEndian(p[8..], state.Commit);
        p[16] = state.VotedFor is null ? (byte)0 : (byte)1;
        if (state.VotedFor is not null)
        {
            Encoding.UTF8.GetBytes(state.VotedFor, p[17..]);
        }

        Seal(writer, frame, length, salt);
    }

    public static void WriteSnapshotMarker(ArrayBufferWriter<byte> writer, uint salt, long index, long term, bool discardLog)
    {
        const int length = 17;
        var frame = Begin(writer, RecordKind.SnapshotMarker, length, out _);
        var p = frame[HeaderSize..];
        BinaryPrimitives.WriteInt64LittleEndian(p, index);
        BinaryPrimitives.WriteInt64LittleEndian(p[8..], term);
        p[16] = discardLog ? (byte)1 : (byte)0;
        Seal(writer, frame, length, salt);
    }

    /// <summary>Validates the frame at <paramref name="offset"/>; on failure <paramref name="problem"/> says why.</summary>
    public static bool TryRead(ReadOnlySpan<byte> file, long offset, uint salt, out RecordKind kind, out int payloadOffset, out int payloadLength, out string? problem)
    {
        kind = default;
        payloadOffset = 0;
        payloadLength = 0;
        var remaining = file.Length - offset;
        if (remaining < HeaderSize)
        {
            problem = $"only {remaining} bytes left, too few for a record header";
            return false;
        }

        var header = file.Slice((int)offset, HeaderSize);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var rawKind = header[4];
        if (rawKind is < (byte)RecordKind.SegmentHeader or > (byte)RecordKind.SnapshotMarker || header[5] != 0 || header[6] != 0 || header[7] != 0)
        {
            problem = $"invalid record header (kind byte {rawKind})";
            return false;
        }

        if (length > MaxPayload || FrameSize((int)length) > remaining)
        {
            // The padding is written with the record, so a record missing its padding is torn too.
            problem = $"record length {length} runs past the end of the file ({remaining} bytes left)";
            return false;
        }

        var payload = file.Slice((int)offset + HeaderSize, (int)length);
        var crc = Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Start ^ salt, header[..8]), payload));
        if (crc != BinaryPrimitives.ReadUInt32LittleEndian(header[8..]))
        {
            problem = "CRC mismatch";
            return false;
        }

        if (!PayloadLengthFits((RecordKind)rawKind, (int)length))
        {
            problem = $"a {(RecordKind)rawKind} record cannot be {length} bytes long";
            return false;
        }

        kind = (RecordKind)rawKind;
        payloadOffset = (int)offset + HeaderSize;
        payloadLength = (int)length;
        problem = null;
        return true;
    }

    private static bool PayloadLengthFits(RecordKind kind, int length) => kind switch
    {
        RecordKind.SegmentHeader => length == 20,
        RecordKind.Entry => length >= 17,
        RecordKind.HardState => length is >= 17 and <= 17 + MaxVoteBytes,
        RecordKind.SnapshotMarker => length == 17,
        _ => false,
    };

    /// <summary>True when any well-formed frame starts at an aligned offset after <paramref name="offset"/>.</summary>
    public static bool AnyValidRecordAfter(ReadOnlySpan<byte> file, long offset, uint salt, out long foundAt)
    {
        for (var o = (offset + Alignment) & ~(long)(Alignment - 1); o + HeaderSize <= file.Length; o += Alignment)
        {
            if (TryRead(file, o, salt, out _, out _, out _, out _))
            {
                foundAt = o;
                return true;
            }
        }

        foundAt = -1;
        return false;
    }

    public static LogEntry ReadEntry(ReadOnlyMemory<byte> file, int payloadOffset, int payloadLength)
    {
        var p = file.Span.Slice(payloadOffset, payloadLength);
        return new LogEntry(
            BinaryPrimitives.ReadInt64LittleEndian(p),
            BinaryPrimitives.ReadInt64LittleEndian(p[8..]),
            (EntryKind)p[16],
            file.Slice(payloadOffset + 17, payloadLength - 17));
    }

    public static HardState ReadHardState(ReadOnlySpan<byte> p)
    {
        var vote = p[16] == 0 ? null : Encoding.UTF8.GetString(p[17..]);
        return new HardState(BinaryPrimitives.ReadInt64LittleEndian(p), vote, BinaryPrimitives.ReadInt64LittleEndian(p[8..]));
    }

    public static (long Index, long Term, bool DiscardLog) ReadSnapshotMarker(ReadOnlySpan<byte> p) =>
        (BinaryPrimitives.ReadInt64LittleEndian(p), BinaryPrimitives.ReadInt64LittleEndian(p[8..]), p[16] != 0);

    public static (ulong Magic, int Version, long Sequence) ReadSegmentHeader(ReadOnlySpan<byte> p) =>
        (BinaryPrimitives.ReadUInt64LittleEndian(p), BinaryPrimitives.ReadInt32LittleEndian(p[8..]), BinaryPrimitives.ReadInt64LittleEndian(p[12..]));
}

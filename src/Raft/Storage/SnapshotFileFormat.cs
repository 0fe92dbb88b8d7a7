using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Storage;

/// <summary>
/// A snapshot file: <c>"PGRAFTSN" | u32 version | u32 crc32c(first 12 bytes + body) | i64 bodyLength | body</c>,
/// body = <c>i64 index | i64 term | voters | learners | data</c>, each id set being <c>u32 count | (u16 length | utf8)*</c>.
/// </summary>
internal static class SnapshotFileFormat
{
    private const ulong Magic = 0x4E53_5446_4152_4750; // "PGRAFTSN" little-endian
    private const int Version = 1;
    private const int HeaderSize = 24;

    public static byte[] Encode(Snapshot snapshot)
    {
        var meta = snapshot.Metadata;
        var bodyLength = 16 + IdsLength(meta.Membership.Voters) + IdsLength(meta.Membership.Learners) + snapshot.Data.Length;
        var buffer = new byte[HeaderSize + bodyLength];
        var span = buffer.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(span, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], bodyLength);
        var body = span[HeaderSize..];
        BinaryPrimitives.WriteInt64LittleEndian(body, meta.Index);
        BinaryPrimitives.WriteInt64LittleEndian(body[8..], meta.Term);
        var position = 16;
        position += WriteIds(body[position..], meta.Membership.Voters);
        position += WriteIds(body[position..], meta.Membership.Learners);
        snapshot.Data.Span.CopyTo(body[position..]);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], ComputeCrc(span));
        return buffer;
    }

    /// <summary>Decodes a snapshot file; returns null with <paramref name="problem"/> set when it is damaged.</summary>
    public static Snapshot? TryDecode(byte[] file, out string? problem)
    {
        var span = file.AsSpan();
        if (span.Length < HeaderSize || BinaryPrimitives.ReadUInt64LittleEndian(span) != Magic)
        {
            problem = "not a snapshot file (bad magic or shorter than its header)";
            return null;
        }

        if (BinaryPrimitives.ReadInt32LittleEndian(span[8..]) != Version)
        {
            problem = $"unsupported snapshot format version {BinaryPrimitives.ReadInt32LittleEndian(span[8..])}";
            return null;
        }

        var bodyLength = BinaryPrimitives.ReadInt64LittleEndian(span[16..]);
        if (bodyLength != span.Length - HeaderSize)
        {
            problem = $"the header says the body is {bodyLength} bytes but the file holds {span.Length - HeaderSize}";
            return null;
        }

        if (ComputeCrc(span) != BinaryPrimitives.ReadUInt32LittleEndian(span[12..]))
        {
            problem = "CRC mismatch";
            return null;
        }

        try
        {
            var body = span[HeaderSize..];
            var index = BinaryPrimitives.ReadInt64LittleEndian(body);
            var term = BinaryPrimitives.ReadInt64LittleEndian(body[8..]);
            var position = 16;
            var voters = ReadIds(body, ref position);
            var learners = ReadIds(body, ref position);
            problem = null;
            return new Snapshot(new SnapshotMetadata(index, term, new Membership(voters, learners)), file.AsMemory(HeaderSize + position));
        }
        catch (ArgumentOutOfRangeException)
        {
            problem = "the membership section is malformed";
            return null;
        }
    }

    private static uint ComputeCrc(ReadOnlySpan<byte> file) =>
        Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Start, file[..12]), file[16..]));

    private static int IdsLength(ImmutableSortedSet<string> ids) => 4 + ids.Sum(id => 2 + Encoding.UTF8.GetByteCount(id));

    private static int WriteIds(Span<byte> span, ImmutableSortedSet<string> ids)
    {
        BinaryPrimitives.WriteInt32LittleEndian(span, ids.Count);
        var position = 4;
        foreach (var id in ids)
        {
            var written = Encoding.UTF8.GetBytes(id, span[(position + 2)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(span[position..], checked((ushort)written));
            position += 2 + written;
        }

        return position;
    }

    private static ImmutableSortedSet<string> ReadIds(ReadOnlySpan<byte> body, ref int position)
    {
        var count = BinaryPrimitives.ReadInt32LittleEndian(body[position..]);
        position += 4;
        if (count < 0 || count > body.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(body));
        }

        var builder = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(body[position..]);
            builder.Add(Encoding.UTF8.GetString(body.Slice(position + 2, length)));
            position += 2 + length;
        }

        return builder.ToImmutable();
    }
}

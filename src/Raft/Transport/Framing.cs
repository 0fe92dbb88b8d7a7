using System.Buffers.Binary;

namespace PgRaft.Raft.Transport;

internal enum FrameType : byte
{
    Hello = 1,
    Challenge = 2,
    Proof = 3,
    Accepted = 4,
    Message = 5,
}

/// <summary>A frame announced more bytes than the configured limit.</summary>
internal sealed class FrameTooLargeException(long length, int limit)
    : Exception($"Frame of {length} bytes exceeds the limit of {limit} bytes (TcpTransportOptions.MaxFrameBytes).")
{
    public long Length { get; } = length;
}

/// <summary>Wire frames: 4-byte big-endian length of (type byte + payload), the type byte, the payload.</summary>
internal static class Framing
{
    public const int HeaderBytes = 5;

    public static void WriteHeader(Span<byte> destination, FrameType type, int payloadLength)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)payloadLength + 1);
        destination[4] = (byte)type;
    }

    public static async ValueTask WriteFrameAsync(Stream stream, FrameType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var buffer = new byte[HeaderBytes + payload.Length];
        WriteHeader(buffer, type, payload.Length);
        payload.Span.CopyTo(buffer.AsSpan(HeaderBytes));
        await stream.WriteAsync(buffer, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    /// <summary>Reads one frame; null at a clean end of stream before a header.</summary>
    public static async ValueTask<(FrameType Type, byte[] Payload)?> ReadFrameAsync(Stream stream, int maxFrameBytes, CancellationToken cancellationToken)
    {
        var header = new byte[HeaderBytes];
        var read = await stream.ReadAtLeastAsync(header, HeaderBytes, throwOnEndOfStream: false, cancellationToken);
        if (read == 0)
        {
            return null;
        }

        if (read < HeaderBytes)
        {
            throw new EndOfStreamException("Connection closed in the middle of a frame header.");
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (length == 0)
        {
            throw new FormatException("Frame has length 0 (no type byte).");
        }

        if (length > (uint)maxFrameBytes)
        {
            throw new FrameTooLargeException(length, maxFrameBytes);
        }

        var type = (FrameType)header[4];
        if (!Enum.IsDefined(type))
        {
            throw new FormatException($"Frame has unknown type {header[4]}.");
        }

        var payload = new byte[length - 1];
        await stream.ReadExactlyAsync(payload, cancellationToken);
        return (type, payload);
    }
}

using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace PgRaft.Raft.Transport;

/// <summary>The peer did not prove knowledge of the cluster secret (or proved it for another TLS channel).</summary>
internal sealed class PeerAuthenticationException(string message) : Exception(message);

/// <summary>
/// Mutual HMAC-SHA256 challenge-response over the cluster secret. The dialler sends its id and a nonce; the
/// listener answers with its id, its nonce and a proof; the dialler checks it and answers with its own proof; the
/// listener checks that and accepts. Proofs cover both nonces, both ids, a direction label and (with TLS) a hash of
/// the listener's certificate, so a proof cannot be replayed, reflected, or relayed through another TLS endpoint.
/// The secret itself never leaves this class.
/// </summary>
internal static class PeerHandshake
{
    private const int NonceBytes = 32;
    private const int MaxHandshakeFrameBytes = 4096;
    private static readonly byte[] Magic = "PGRT"u8.ToArray();
    private const byte ProtocolVersion = 1;

    public static async Task<string> DialerAsync(
        Stream stream, string selfId, string expectedPeerId, byte[] secret, byte[] channelBinding, CancellationToken cancellationToken)
    {
        var dialerNonce = RandomNumberGenerator.GetBytes(NonceBytes);
        var hello = new ArrayBufferWriter<byte>();
        var writer = new RaftMessageCodec.Writer(hello);
        hello.Write(Magic);
        writer.Byte(ProtocolVersion);
        writer.String(selfId);
        hello.Write(dialerNonce);
        await Framing.WriteFrameAsync(stream, FrameType.Hello, hello.WrittenMemory, cancellationToken);

        var challenge = await ReadExpectedAsync(stream, FrameType.Challenge, cancellationToken);
        var reader = new RaftMessageCodec.Reader(challenge);
        var listenerId = reader.String("listener id");
        var listenerNonce = ReadFixed(ref reader, NonceBytes, "listener nonce");
        var listenerProof = ReadFixed(ref reader, 32, "listener proof");
        EnsureEnd(reader);

        var expected = Proof(secret, "pgraft-listener", dialerNonce, listenerNonce, selfId, listenerId, channelBinding);
        if (!CryptographicOperations.FixedTimeEquals(expected, listenerProof))
        {
            throw new PeerAuthenticationException($"peer '{listenerId}' failed to prove knowledge of the cluster secret (secrets differ, or the connection is intercepted)");
        }

        if (!string.Equals(listenerId, expectedPeerId, StringComparison.Ordinal))
        {
            throw new PeerAuthenticationException($"the address dialled for peer '{expectedPeerId}' is served by node '{listenerId}'; fix the member address book");
        }

        var proof = Proof(secret, "pgraft-dialer", dialerNonce, listenerNonce, selfId, listenerId, channelBinding);
        await Framing.WriteFrameAsync(stream, FrameType.Proof, proof, cancellationToken);
        _ = await ReadExpectedAsync(stream, FrameType.Accepted, cancellationToken);
        return listenerId;
    }

    /// <summary>Returns the authenticated id of the dialler. <paramref name="onClaimedId"/> sees the claimed id before it is verified (for logging).</summary>
    public static async Task<string> ListenerAsync(
        Stream stream, string selfId, byte[] secret, byte[] channelBinding, Action<string> onClaimedId, CancellationToken cancellationToken)
    {
        var hello = await ReadExpectedAsync(stream, FrameType.Hello, cancellationToken);
        var reader = new RaftMessageCodec.Reader(hello);
        var magic = ReadFixed(ref reader, Magic.Length, "magic");
        if (!magic.AsSpan().SequenceEqual(Magic))
        {
            throw new FormatException("Handshake does not start with the pgraft magic bytes: the dialler is not a pgraft Raft peer.");
        }

        var version = reader.Byte("protocol version");
        if (version != ProtocolVersion)
        {
            throw new FormatException($"Peer speaks Raft transport protocol version {version}; this node speaks {ProtocolVersion}.");
        }

        var dialerId = reader.String("dialer id");
        var dialerNonce = ReadFixed(ref reader, NonceBytes, "dialer nonce");
        EnsureEnd(reader);
        onClaimedId(dialerId);

        var listenerNonce = RandomNumberGenerator.GetBytes(NonceBytes);
        var challenge = new ArrayBufferWriter<byte>();
        new RaftMessageCodec.Writer(challenge).String(selfId);
        challenge.Write(listenerNonce);
        challenge.Write(Proof(secret, "pgraft-listener", dialerNonce, listenerNonce, dialerId, selfId, channelBinding));
        await Framing.WriteFrameAsync(stream, FrameType.Challenge, challenge.WrittenMemory, cancellationToken);

        byte[] proof;
        try
        {
            proof = await ReadExpectedAsync(stream, FrameType.Proof, cancellationToken);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException && !cancellationToken.IsCancellationRequested)
        {
            throw new PeerAuthenticationException($"peer claiming to be '{dialerId}' hung up after our challenge: it did not accept this node's proof of the cluster secret");
        }

        var expected = Proof(secret, "pgraft-dialer", dialerNonce, listenerNonce, dialerId, selfId, channelBinding);
        if (!CryptographicOperations.FixedTimeEquals(expected, proof))
        {
            throw new PeerAuthenticationException($"peer claiming to be '{dialerId}' failed to prove knowledge of the cluster secret");
        }

        if (string.Equals(dialerId, selfId, StringComparison.Ordinal))
        {
            throw new PeerAuthenticationException($"another node uses this node's own id '{selfId}'; every node needs a unique id");
        }

        await Framing.WriteFrameAsync(stream, FrameType.Accepted, ReadOnlyMemory<byte>.Empty, cancellationToken);
        return dialerId;
    }

    private static byte[] Proof(byte[] secret, string label, byte[] dialerNonce, byte[] listenerNonce, string dialerId, string listenerId, byte[] channelBinding)
    {
        var data = new ArrayBufferWriter<byte>();
        var writer = new RaftMessageCodec.Writer(data);
        writer.String(label);
        writer.Bytes(dialerNonce);
        writer.Bytes(listenerNonce);
        writer.String(dialerId);
        writer.String(listenerId);
        writer.Bytes(channelBinding);
        return HMACSHA256.HashData(secret, data.WrittenSpan);
    }

    private static async Task<byte[]> ReadExpectedAsync(Stream stream, FrameType expected, CancellationToken cancellationToken)
    {
        var frame = await Framing.ReadFrameAsync(stream, MaxHandshakeFrameBytes, cancellationToken)
            ?? throw new EndOfStreamException($"Peer closed the connection during the handshake (waiting for {expected}); a wrong cluster secret on either side does this.");
        if (frame.Type != expected)
        {
            throw new FormatException($"Handshake expected a {expected} frame, got {frame.Type}.");
        }

        return frame.Payload;
    }

    private static byte[] ReadFixed(ref RaftMessageCodec.Reader reader, int count, string field)
    {
        if (reader.Remaining < count)
        {
            throw new FormatException($"Handshake field '{field}' is truncated.");
        }

        var bytes = new byte[count];
        for (var i = 0; i < count; i++)
        {
            bytes[i] = reader.Byte(field);
        }

        return bytes;
    }

    private static void EnsureEnd(RaftMessageCodec.Reader reader)
    {
        if (reader.Remaining != 0)
        {
            throw new FormatException($"Handshake frame has {reader.Remaining} unexpected trailing bytes.");
        }
    }
}

using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace PgRaft.Node.Api;

/// <summary>
/// Signs and checks node-to-node HTTP requests with HMAC-SHA256 over the cluster secret:
/// header <c>X-PgRaft-Signature: {unix-ms}.{hex(hmac(method \n path \n unix-ms \n sha256(body)))}</c>.
/// The timestamp bounds replays to <see cref="MaxSkew"/>; it is not used for anything that needs
/// synchronised clocks (leases use monotonic time only).
/// </summary>
internal sealed class RequestSigner
{
    public const string HeaderName = "X-PgRaft-Signature";

    public static readonly TimeSpan MaxSkew = TimeSpan.FromMinutes(2);

    private readonly byte[] _key;
    private readonly TimeProvider _time;

    public RequestSigner(string clusterSecret, TimeProvider time)
    {
        // Derive a purpose-specific key so the API signature and the Raft handshake never share a MAC key.
        _key = HMACSHA256.HashData(Encoding.UTF8.GetBytes(clusterSecret), "pgraft-api-v1"u8);
        _time = time;
    }

    public string Sign(string method, string path, ReadOnlySpan<byte> body)
    {
        var stamp = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return stamp.ToString(CultureInfo.InvariantCulture) + "." + Convert.ToHexStringLower(Mac(method, path, stamp, body));
    }

    /// <summary>Null when the signature is valid; otherwise why not (safe to log: it never contains the secret).</summary>
    public string? Check(string method, string path, string? header, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(header))
        {
            return $"missing {HeaderName} header";
        }

        var dot = header.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || !long.TryParse(header.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var stamp))
        {
            return $"malformed {HeaderName} header";
        }

        Span<byte> given = stackalloc byte[32];
        if (header.Length - dot - 1 != 64 || Convert.FromHexString(header.AsSpan(dot + 1), given, out _, out var written) != System.Buffers.OperationStatus.Done || written != 32)
        {
            return $"malformed {HeaderName} header";
        }

        var skew = _time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(stamp, 0, 253402300799999));
        if (skew.Duration() > MaxSkew)
        {
            return $"signature timestamp is {skew.TotalSeconds:F0} s away from this node's clock (more than {MaxSkew.TotalSeconds:F0} s): check NTP on both nodes";
        }

        return CryptographicOperations.FixedTimeEquals(given, Mac(method, path, stamp, body))
            ? null
            : "signature does not match: the caller uses a different cluster secret";
    }

    private byte[] Mac(string method, string path, long stamp, ReadOnlySpan<byte> body)
    {
        Span<byte> bodyHash = stackalloc byte[32];
        SHA256.HashData(body, bodyHash);
        var head = Encoding.UTF8.GetBytes(method.ToUpperInvariant() + "\n" + path + "\n");
        var message = new byte[head.Length + 8 + 32];
        head.CopyTo(message, 0);
        BinaryPrimitives.WriteInt64BigEndian(message.AsSpan(head.Length), stamp);
        bodyHash.CopyTo(message.AsSpan(head.Length + 8));
        return HMACSHA256.HashData(_key, message);
    }
}

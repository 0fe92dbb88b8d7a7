using System.Buffers.Binary;
using System.Text;

namespace PgRaft.Raft.Core;

/// <summary>
/// Binary form of a <see cref="ConfigChange"/> inside a <see cref="EntryKind.ConfigChange"/> entry:
/// version byte (1), kind byte, big-endian ushort byte length of the node id, the id in UTF-8.
/// </summary>
public static class ConfigChangeCodec
{
    private const byte Version = 1;
    private const int HeaderLength = 4;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] Encode(ConfigChange change)
    {
        if (string.IsNullOrEmpty(change.NodeId))
        {
            throw new ArgumentException("A configuration change needs a non-empty node id.", nameof(change));
        }

        if (!Enum.IsDefined(change.Kind))
        {
            throw new ArgumentException($"Unknown configuration change kind {(int)change.Kind}.", nameof(change));
        }

        var idLength = StrictUtf8.GetByteCount(change.NodeId);
        if (idLength > ushort.MaxValue)
        {
            throw new ArgumentException($"Node id is too long ({idLength} bytes; at most {ushort.MaxValue}).", nameof(change));
        }

        var buffer = new byte[HeaderLength + idLength];
        buffer[0] = Version;
        buffer[1] = (byte)change.Kind;
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), (ushort)idLength);
        StrictUtf8.GetBytes(change.NodeId, buffer.AsSpan(HeaderLength));
        return buffer;
    }

    public static ConfigChange Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length < HeaderLength)
        {
            throw new FormatException($"Configuration change entry is {data.Length} bytes; at least {HeaderLength} expected.");
        }

        if (data[0] != Version)
        {
            throw new FormatException($"Configuration change entry has format version {data[0]}; only version {Version} is known.");
        }

        var kind = (ConfigChangeKind)data[1];
        if (!Enum.IsDefined(kind))
        {
            throw new FormatException($"Configuration change entry has unknown kind {data[1]}.");
        }

        int idLength = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if (idLength == 0)
        {
            throw new FormatException("Configuration change entry has an empty node id.");
        }

        if (data.Length != HeaderLength + idLength)
        {
            throw new FormatException(
                $"Configuration change entry declares a {idLength}-byte node id but carries {data.Length - HeaderLength} bytes after the header.");
        }

        string id;
        try
        {
            id = StrictUtf8.GetString(data[HeaderLength..]);
        }
        catch (DecoderFallbackException ex)
        {
            throw new FormatException("Configuration change entry's node id is not valid UTF-8.", ex);
        }

        return new ConfigChange(kind, id);
    }

    /// <summary>Decodes without throwing; false for garbage.</summary>
    internal static bool TryDecode(ReadOnlySpan<byte> data, out ConfigChange change)
    {
        try
        {
            change = Decode(data);
            return true;
        }
        catch (FormatException)
        {
            change = default;
            return false;
        }
    }

    /// <summary>The membership after <paramref name="change"/>, or null when the change does not apply to <paramref name="current"/>.</summary>
    internal static Membership? Apply(Membership current, ConfigChange change)
    {
        var id = change.NodeId;
        switch (change.Kind)
        {
            case ConfigChangeKind.AddLearner:
                return current.Contains(id) ? null : current with { Learners = current.Learners.Add(id) };
            case ConfigChangeKind.PromoteLearner:
                return current.Learners.Contains(id)
                    ? new Membership(current.Voters.Add(id), current.Learners.Remove(id))
                    : null;
            case ConfigChangeKind.Remove:
                if (current.Voters.Contains(id))
                {
                    return current.Voters.Count == 1 ? null : current with { Voters = current.Voters.Remove(id) };
                }

                return current.Learners.Contains(id) ? current with { Learners = current.Learners.Remove(id) } : null;
            default:
                return null;
        }
    }
}

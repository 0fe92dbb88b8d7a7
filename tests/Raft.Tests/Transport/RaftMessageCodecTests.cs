using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;
using PgRaft.Raft.Core;
using PgRaft.Raft.Transport;

namespace PgRaft.Raft.Tests.Transport;

public sealed class RaftMessageCodecTests
{
    internal static RaftMessage RandomMessage(Random random)
    {
        byte[] Bytes(int max)
        {
            var bytes = new byte[random.Next(max + 1)];
            random.NextBytes(bytes);
            return bytes;
        }

        string Id() => random.Next(4) switch
        {
            0 => "",
            1 => "node-" + random.Next(100),
            2 => "nœud-é-" + random.Next(10),
            _ => new string((char)('a' + random.Next(26)), random.Next(1, 40)),
        };

        long Long() => random.Next(3) == 0 ? random.NextInt64(long.MinValue, long.MaxValue) : random.NextInt64(0, 1000);

        var entries = Enumerable.Range(0, random.Next(4) == 0 ? random.Next(20) : 0)
            .Select(_ => new LogEntry(Long(), Long(), (EntryKind)random.Next(2), Bytes(64)))
            .ToArray();
        Snapshot? snapshot = random.Next(4) == 0
            ? new Snapshot(
                new SnapshotMetadata(Long(), Long(), new Membership(
                    Enumerable.Range(0, random.Next(5)).Select(_ => Id()).ToImmutableSortedSet(StringComparer.Ordinal),
                    Enumerable.Range(0, random.Next(3)).Select(_ => Id()).ToImmutableSortedSet(StringComparer.Ordinal))),
                Bytes(300))
            : null;
        var types = Enum.GetValues<MessageType>();
        return new RaftMessage
        {
            Type = types[random.Next(types.Length)],
            From = Id(),
            To = Id(),
            Term = Long(),
            LogTerm = Long(),
            Index = Long(),
            Commit = Long(),
            Reject = random.Next(2) == 1,
            RejectHint = Long(),
            Context = Bytes(16),
            Entries = entries,
            Snapshot = snapshot,
        };
    }

    internal static void AssertSame(RaftMessage expected, RaftMessage actual)
    {
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(expected.From, actual.From);
        Assert.Equal(expected.To, actual.To);
        Assert.Equal(expected.Term, actual.Term);
        Assert.Equal(expected.LogTerm, actual.LogTerm);
        Assert.Equal(expected.Index, actual.Index);
        Assert.Equal(expected.Commit, actual.Commit);
        Assert.Equal(expected.Reject, actual.Reject);
        Assert.Equal(expected.RejectHint, actual.RejectHint);
        Assert.Equal(expected.Context.ToArray(), actual.Context.ToArray());
        Assert.Equal(expected.Entries, actual.Entries);
        Assert.Equal(expected.Snapshot is null, actual.Snapshot is null);
        if (expected.Snapshot is { } snapshot)
        {
            Assert.Equal(snapshot.Metadata.Index, actual.Snapshot!.Metadata.Index);
            Assert.Equal(snapshot.Metadata.Term, actual.Snapshot.Metadata.Term);
            Assert.Equal(snapshot.Metadata.Membership, actual.Snapshot.Metadata.Membership);
            Assert.Equal(snapshot.Data.ToArray(), actual.Snapshot.Data.ToArray());
        }
    }

    [Fact]
    public void Random_messages_survive_a_round_trip()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<int>(), seed =>
        {
            var message = RandomMessage(new Random(seed));
            AssertSame(message, RaftMessageCodec.Decode(RaftMessageCodec.Encode(message)));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Random_bytes_decode_or_throw_FormatException_only()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            // Start with a valid version byte half the time, so decoding gets past the first check.
            if (bytes.Length > 0 && bytes[0] % 2 == 0)
            {
                bytes[0] = RaftMessageCodec.Version;
            }

            try
            {
                _ = RaftMessageCodec.Decode(bytes);
            }
            catch (FormatException)
            {
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Every_truncation_or_corruption_of_a_valid_message_is_refused_or_decodes_cleanly()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<int>(), seed =>
        {
            var random = new Random(seed);
            var encoded = RaftMessageCodec.Encode(RandomMessage(random));
            var cut = random.Next(encoded.Length);
            Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(encoded.AsMemory(0, cut)));

            var corrupted = (byte[])encoded.Clone();
            corrupted[random.Next(corrupted.Length)] ^= (byte)random.Next(1, 256);
            try
            {
                _ = RaftMessageCodec.Decode(corrupted);
            }
            catch (FormatException)
            {
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Wrong_version_is_refused_with_a_clear_message()
    {
        var encoded = RaftMessageCodec.Encode(RandomMessage(new Random(1)));
        encoded[0] = 99;
        var error = Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(encoded));
        Assert.Contains("version 99", error.Message, StringComparison.Ordinal);
    }
}

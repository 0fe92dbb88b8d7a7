using FsCheck;
using FsCheck.Fluent;
using PgRaft.Raft.Hosting;

namespace PgRaft.Raft.Tests.Hosting;

public sealed class HostFormatTests
{
    [Fact]
    public void Snapshots_and_address_updates_round_trip()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<int>(), seed =>
        {
            var random = new Random(seed);
            var book = Enumerable.Range(0, random.Next(6)).ToDictionary(i => "n" + i, i => $"10.0.0.{i}:{random.Next(1, 65536)}");
            var state = new byte[random.Next(200)];
            random.NextBytes(state);
            var (readBook, readState) = HostFormat.ReadSnapshot(HostFormat.Snapshot(book, state));
            Assert.Equal(book.OrderBy(p => p.Key), readBook.OrderBy(p => p.Key));
            Assert.Equal(state, readState.ToArray());

            var (id, address) = HostFormat.DecodeAddressUpdate(HostFormat.AddressUpdate("node-" + seed, "h:" + seed));
            Assert.Equal("node-" + seed, id);
            Assert.Equal("h:" + seed, address);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Empty_snapshot_data_means_no_addresses_and_empty_state_and_bad_versions_are_refused()
    {
        var (book, state) = HostFormat.ReadSnapshot(ReadOnlyMemory<byte>.Empty);
        Assert.Empty(book);
        Assert.True(state.IsEmpty);
        Assert.Throws<FormatException>(() => HostFormat.ReadSnapshot(new byte[] { 9, 0, 0, 0, 0 }));
        Assert.Throws<FormatException>(() => HostFormat.ReadSnapshot(new byte[] { 1, 5, 0, 0, 0 }));
    }
}

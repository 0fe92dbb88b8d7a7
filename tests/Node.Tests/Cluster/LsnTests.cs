using System.Text.Json;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Tests.Cluster;

public sealed class LsnTests
{
    [Theory]
    [InlineData("0/0", 0UL)]
    [InlineData("0/5000060", 0x5000060UL)]
    [InlineData("16/B374D848", 0x16_B374D848UL)]
    [InlineData("FFFFFFFF/FFFFFFFF", ulong.MaxValue)]
    public void Parses_and_formats_like_postgresql(string text, ulong value)
    {
        Assert.Equal(value, Lsn.Parse(text).Value);
        Assert.Equal(text, new Lsn(value).ToString());
        Assert.Equal(value, Lsn.Parse(text.ToLowerInvariant()).Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5000060")]
    [InlineData("/1")]
    [InlineData("1/")]
    [InlineData("G/1")]
    [InlineData("1/2/3")]
    [InlineData("100000000/0")]
    [InlineData(" 0/1")]
    public void Refuses_what_is_not_a_wal_position(string text)
    {
        Assert.False(Lsn.TryParse(text, out _));
        var error = Assert.Throws<FormatException>(() => Lsn.Parse(text));
        Assert.Contains("0/5000060", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Round_trips_every_value_through_text_and_json() =>
        Properties.ForAllSeeds(11, 500, seed =>
        {
            var random = new Random(seed);
            var value = (ulong)random.NextInt64() ^ ((ulong)random.Next() << 40);
            var lsn = new Lsn(value);
            var json = JsonSerializer.Serialize(lsn, ClusterJsonContext.Default.Options);
            return Lsn.Parse(lsn.ToString()) == lsn
                && JsonSerializer.Deserialize<Lsn>(json, ClusterJsonContext.Default.Options) == lsn
                && (new Lsn(value / 2) <= lsn);
        });

    [Fact]
    public void Bytes_ahead_is_never_negative()
    {
        Assert.Equal(0x60UL, Lsn.Parse("0/5000060").BytesSince(Lsn.Parse("0/5000000")));
        Assert.Equal(0UL, Lsn.Parse("0/5000000").BytesSince(Lsn.Parse("0/5000060")));
    }
}

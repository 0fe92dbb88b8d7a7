using FsCheck;
using FsCheck.Fluent;
using PgRaft.PgControl.Wal;

namespace PgRaft.PgControl.Tests.Wal;

public sealed class LsnTests
{
    [Fact]
    public void Printing_then_parsing_gives_the_same_position() =>
        Prop.ForAll(ArbMap.Default.ArbFor<ulong>(), value => Lsn.Parse(new Lsn(value).ToString()).Value == value)
            .QuickCheckThrowOnFailure();

    [Fact]
    public void Ordering_follows_the_numeric_value() =>
        Prop.ForAll(ArbMap.Default.ArbFor<ulong>(), ArbMap.Default.ArbFor<ulong>(), (a, b) =>
        {
            var x = new Lsn(a);
            var y = new Lsn(b);
            return (x < y) == (a < b) && (x >= y) == (a >= b) && Math.Sign(x.CompareTo(y)) == Math.Sign(a.CompareTo(b))
                && x.BytesSince(y) == (a > b ? a - b : 0);
        }).QuickCheckThrowOnFailure();

    [Theory]
    [InlineData("0/0", 0UL)]
    [InlineData("0/16B3748", 0x16B3748UL)]
    [InlineData("16/B374D848", 0x16_B374D848UL)]
    [InlineData("FFFFFFFF/FFFFFFFF", ulong.MaxValue)]
    [InlineData("a/1", 0xA_00000001UL)]
    public void Parses_PostgreSQL_text(string text, ulong value)
    {
        Assert.Equal(value, Lsn.Parse(text).Value);
        Assert.Equal(text.ToUpperInvariant(), new Lsn(value).ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("/1")]
    [InlineData("1/")]
    [InlineData("1/2/3")]
    [InlineData("G/1")]
    [InlineData("100000000/0")]
    [InlineData(" 0/1")]
    [InlineData("-1/0")]
    public void Refuses_what_is_not_a_position(string text)
    {
        Assert.False(Lsn.TryParse(text, out _));
        var error = Assert.Throws<FormatException>(() => Lsn.Parse(text));
        Assert.Contains($"'{text}'", error.Message, StringComparison.Ordinal);
    }
}

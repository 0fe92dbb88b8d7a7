using PgRaft.Raft.Core;

namespace PgRaft.Raft.Tests.Core;

public sealed class ConfigChangeCodecTests
{
    [Theory]
    [InlineData(ConfigChangeKind.AddLearner, "n4")]
    [InlineData(ConfigChangeKind.PromoteLearner, "node-é-7")]
    [InlineData(ConfigChangeKind.Remove, "x")]
    public void Round_trips(ConfigChangeKind kind, string id)
    {
        var change = new ConfigChange(kind, id);
        Assert.Equal(change, ConfigChangeCodec.Decode(ConfigChangeCodec.Encode(change)));
    }

    [Theory]
    [InlineData(new byte[0], "at least")]
    [InlineData(new byte[] { 2, 0, 0, 1, 65 }, "version")]
    [InlineData(new byte[] { 1, 9, 0, 1, 65 }, "kind")]
    [InlineData(new byte[] { 1, 0, 0, 0 }, "empty node id")]
    [InlineData(new byte[] { 1, 0, 0, 5, 65 }, "declares")]
    [InlineData(new byte[] { 1, 0, 0, 1, 65, 66 }, "declares")]
    [InlineData(new byte[] { 1, 0, 0, 1, 0xFF }, "UTF-8")]
    public void Garbage_is_refused_with_a_clear_message(byte[] data, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => ConfigChangeCodec.Decode(data));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Encode_refuses_an_empty_id()
    {
        Assert.Throws<ArgumentException>(() => ConfigChangeCodec.Encode(new ConfigChange(ConfigChangeKind.AddLearner, "")));
    }

    [Fact]
    public void Apply_follows_the_single_server_rules()
    {
        var m = Membership.Of("a", "b");
        Assert.Null(ConfigChangeCodec.Apply(m, new ConfigChange(ConfigChangeKind.AddLearner, "a")));
        var withLearner = ConfigChangeCodec.Apply(m, new ConfigChange(ConfigChangeKind.AddLearner, "c"))!;
        Assert.Contains("c", withLearner.Learners);
        Assert.Null(ConfigChangeCodec.Apply(m, new ConfigChange(ConfigChangeKind.PromoteLearner, "a")));
        var promoted = ConfigChangeCodec.Apply(withLearner, new ConfigChange(ConfigChangeKind.PromoteLearner, "c"))!;
        Assert.Equal(["a", "b", "c"], promoted.Voters);
        Assert.Empty(promoted.Learners);
        Assert.Null(ConfigChangeCodec.Apply(Membership.Of("a"), new ConfigChange(ConfigChangeKind.Remove, "a")));
        Assert.Null(ConfigChangeCodec.Apply(m, new ConfigChange(ConfigChangeKind.Remove, "z")));
        Assert.Equal(["b"], ConfigChangeCodec.Apply(m, new ConfigChange(ConfigChangeKind.Remove, "a"))!.Voters);
    }
}

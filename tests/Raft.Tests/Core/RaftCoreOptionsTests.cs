using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;

namespace PgRaft.Raft.Tests.Core;

public sealed class RaftCoreOptionsTests
{
    public static TheoryData<string, Action<RaftCoreOptions>> BadOptions => new()
    {
        { "Id", o => o.Id = " " },
        { "ElectionTicks", o => o.ElectionTicks = 1 },
        { "HeartbeatTicks", o => o.HeartbeatTicks = 0 },
        { "HeartbeatTicks", o => o.HeartbeatTicks = 20 },
        { "MaxEntriesPerAppend", o => o.MaxEntriesPerAppend = 0 },
        { "MaxInflightAppends", o => o.MaxInflightAppends = 0 },
        { "MaxPromoteLag", o => o.MaxPromoteLag = -1 },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Validate_names_the_bad_option(string name, Action<RaftCoreOptions> spoil)
    {
        var options = new RaftCoreOptions { Id = "n1" };
        spoil(options);
        var ex = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(name, ex.ParamName);
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_are_valid_once_an_id_is_set()
    {
        var options = new RaftCoreOptions { Id = "n1" };
        options.Validate();
        Assert.Equal(20, options.ElectionTicks);
        Assert.Equal(2, options.HeartbeatTicks);
        Assert.True(options.PreVote);
        Assert.True(options.CheckQuorum);
    }

    [Fact]
    public void The_core_validates_its_options_and_restored_log()
    {
        var empty = new PersistedState(HardState.Empty, null, []);
        Assert.Throws<ArgumentException>(() => new RaftCore(new RaftCoreOptions(), empty, new Random(1)));

        var snapshot = new Snapshot(new SnapshotMetadata(5, 2, Membership.Of("n1")), ReadOnlyMemory<byte>.Empty);
        var gap = new PersistedState(HardState.Empty, snapshot, [new LogEntry(7, 2, EntryKind.Command, ReadOnlyMemory<byte>.Empty)]);
        var ex = Assert.Throws<ArgumentException>(() => new RaftCore(new RaftCoreOptions { Id = "n1" }, gap, new Random(1)));
        Assert.Contains("not contiguous", ex.Message, StringComparison.Ordinal);

        var noSnapshot = new PersistedState(HardState.Empty, null, [new LogEntry(1, 1, EntryKind.Command, ReadOnlyMemory<byte>.Empty)]);
        Assert.Throws<ArgumentException>(() => new RaftCore(new RaftCoreOptions { Id = "n1" }, noSnapshot, new Random(1)));
    }
}

using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;
using static PgRaft.Raft.Tests.Storage.StorageFactory;

namespace PgRaft.Raft.Tests.Storage;

public sealed class RoundTripTests
{
    [Fact]
    public void A_fresh_directory_loads_empty_and_is_created_private()
    {
        using var temp = new TempDirectory();
        using (var storage = Open(temp.Data))
        {
            var state = storage.Load();
            Assert.Equal(HardState.Empty, state.HardState);
            Assert.Null(state.Snapshot);
            Assert.Empty(state.Entries);
        }

        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(temp.Data));
        }
    }

    [Fact]
    public void Entries_hard_state_and_suffix_replacement_survive_a_reload()
    {
        using var temp = new TempDirectory();
        var model = StorageModel.Empty;
        using (var storage = Open(temp.Data))
        {
            storage.Load();
            for (var i = 1; i <= 120; i++)
            {
                var entry = Entry(i, 1 + (i / 40), size: i % 7 == 0 ? 700 : 20);
                var hs = new HardState(1 + (i / 40), "n" + (i / 40 % 3), i - 1);
                storage.Persist(null, [entry], hs);
                model = model.Append([entry]).With(hs);
            }

            Assert.True(storage.SegmentCount > 3, "the test should span several segments");

            // Replace a suffix reaching back into an older segment.
            var replacement = Enumerable.Range(70, 5).Select(i => Entry(i, 9, seed: 1)).ToList();
            storage.Persist(null, replacement, new HardState(9, null, 69));
            model = model.Append(replacement).With(new HardState(9, null, 69));
        }

        using (var storage = Open(temp.Data))
        {
            var loaded = storage.Load();
            Assert.True(model.Matches(loaded), $"expected {model}\nloaded  {StorageModel.Describe(loaded)}");
            Assert.Equal(74, loaded.Entries[^1].Index);

            // Appending after a reload continues the same log.
            storage.Persist(null, [Entry(75, 9)], null);
            model = model.Append([Entry(75, 9)]);
        }

        using (var storage = Open(temp.Data))
        {
            var loaded = storage.Load();
            Assert.True(model.Matches(loaded), $"expected {model}\nloaded  {StorageModel.Describe(loaded)}");
        }
    }

    [Fact]
    public void A_snapshot_matching_the_log_keeps_later_entries_and_compacts_old_segments()
    {
        using var temp = new TempDirectory();
        var model = StorageModel.Empty;
        using (var storage = Open(temp.Data))
        {
            storage.Load();
            storage.InstallSnapshot(Snapshot(0, 0));
            model = model.Install(Snapshot(0, 0));
            for (var i = 1; i <= 200; i++)
            {
                storage.Persist(null, [Entry(i, 2, size: 100)], null);
                model = model.Append([Entry(i, 2, size: 100)]);
            }

            var segmentsBefore = storage.SegmentCount;
            foreach (var index in new long[] { 60, 120, 180 })
            {
                storage.InstallSnapshot(Snapshot(index, 2));
                model = model.Install(Snapshot(index, 2));
            }

            Assert.True(storage.SegmentCount < segmentsBefore, $"segments {storage.SegmentCount} should be fewer than {segmentsBefore}");
        }

        Assert.Equal(2, Directory.GetFiles(Path.Combine(temp.Data, "snap")).Length);
        using (var storage = Open(temp.Data))
        {
            var loaded = storage.Load();
            Assert.True(model.Matches(loaded), $"expected {model}\nloaded  {StorageModel.Describe(loaded)}");
            Assert.Equal(181, loaded.Entries[0].Index);
            Assert.Equal(200, loaded.Entries[^1].Index);
        }
    }

    [Fact]
    public void A_snapshot_disagreeing_with_the_log_discards_it_and_new_entries_follow_the_snapshot()
    {
        using var temp = new TempDirectory();
        var model = StorageModel.Empty;
        using (var storage = Open(temp.Data))
        {
            storage.Load();
            var entries = Enumerable.Range(1, 30).Select(i => Entry(i, 1)).ToList();
            storage.Persist(null, entries, new HardState(1, "n1", 5));
            model = model.Append(entries).With(new HardState(1, "n1", 5));

            // Snapshot at 20 from term 3: our entry 20 has term 1, so the whole log goes.
            var snapshot = Snapshot(20, 3);
            var after = new[] { Entry(21, 3), Entry(22, 3) };
            storage.Persist(snapshot, after, new HardState(3, null, 20));
            model = model.Install(snapshot).Append(after).With(new HardState(3, null, 20));
            Assert.Equal(22, storage.LastIndex);
        }

        using (var storage = Open(temp.Data))
        {
            var loaded = storage.Load();
            Assert.True(model.Matches(loaded), $"expected {model}\nloaded  {StorageModel.Describe(loaded)}");
        }
    }

    [Fact]
    public void A_snapshot_beyond_the_log_empties_it()
    {
        using var temp = new TempDirectory();
        using (var storage = Open(temp.Data))
        {
            storage.Load();
            storage.Persist(null, [Entry(1, 1), Entry(2, 1)], null);
            storage.InstallSnapshot(Snapshot(50, 4));
            Assert.Throws<ArgumentException>(() => storage.Persist(null, [Entry(50, 4)], null));
            storage.Persist(null, [Entry(51, 4)], null);
        }

        using (var storage = Open(temp.Data))
        {
            var loaded = storage.Load();
            Assert.Equal(50, loaded.Snapshot!.Metadata.Index);
            Assert.Equal([51L], loaded.Entries.Select(e => e.Index));
        }
    }

    [Fact]
    public void Invalid_input_is_refused_before_anything_is_written()
    {
        using var temp = new TempDirectory();
        using var storage = Open(temp.Data);
        Assert.Throws<InvalidOperationException>(() => storage.Persist(null, [Entry(1, 1)], null));
        storage.Load();
        storage.Persist(null, [Entry(1, 1), Entry(2, 1)], null);
        Assert.Throws<ArgumentException>(() => storage.Persist(null, [Entry(4, 1)], null));
        Assert.Throws<ArgumentException>(() => storage.Persist(null, [Entry(3, 1), Entry(5, 1)], null));
        storage.InstallSnapshot(Snapshot(2, 1));
        Assert.Throws<ArgumentException>(() => storage.InstallSnapshot(Snapshot(1, 1)));
        Assert.Throws<ArgumentException>(() => storage.Persist(null, [Entry(2, 1)], null));
        storage.Persist(null, [Entry(3, 1)], null);
        Assert.Equal(3, storage.LastIndex);

        storage.Persist(null, [], new HardState(5, "n2", 1));
        Assert.Throws<ArgumentException>(() => storage.Persist(null, [], new HardState(4, "n2", 1)));
        Assert.Throws<ArgumentException>(() => storage.Persist(null, [], new HardState(5, "n3", 1)));
        Assert.Throws<ArgumentException>(() => storage.Persist(null, [], new HardState(5, null, 1)));
        storage.Persist(null, [], new HardState(5, "n2", 2));
        storage.Persist(null, [], new HardState(6, null, 2));
    }

    [Fact]
    public void One_small_persist_costs_exactly_one_data_sync()
    {
        using var temp = new TempDirectory();
        Directory.CreateDirectory(temp.Data);
        var disk = new FaultInjectingDisk(temp.Data, new Random(1));
        using var storage = Open(temp.Data, disk: disk, segmentSize: FileRaftStorage.DefaultSegmentSizeLimit);
        storage.Load();
        storage.Persist(null, [Entry(1, 1)], new HardState(1, "n1", 0));
        var before = disk.SyncCount;
        for (var i = 2; i <= 11; i++)
        {
            storage.Persist(null, [Entry(i, 1)], new HardState(1, "n1", i - 1));
        }

        Assert.Equal(10, disk.SyncCount - before);
    }

    [Fact]
    public void A_second_instance_on_the_same_directory_is_refused()
    {
        using var temp = new TempDirectory();
        using var first = Open(temp.Data);
        first.Load();
        using var second = Open(temp.Data);
        var error = Assert.Throws<InvalidOperationException>(() => second.Load());
        Assert.Contains("in use by another process", error.Message, StringComparison.Ordinal);
        first.Dispose();
        using var third = Open(temp.Data);
        Assert.Equal(HardState.Empty, third.Load().HardState);
    }
}

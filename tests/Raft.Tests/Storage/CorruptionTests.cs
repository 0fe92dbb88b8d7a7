using FsCheck;
using FsCheck.Fluent;
using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;
using PgRaft.Raft.Tests.Support;
using static PgRaft.Raft.Tests.Storage.StorageFactory;

namespace PgRaft.Raft.Tests.Storage;

public sealed class CorruptionTests
{
    private static string LogDir(TempDirectory temp) => Path.Combine(temp.Data, "log");

    private static string[] Segments(TempDirectory temp) => [.. Directory.GetFiles(LogDir(temp)).Order(StringComparer.Ordinal)];

    /// <summary>Offsets of the records in a segment file.</summary>
    private static List<(long Offset, RecordKind Kind, int Size)> Records(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var records = new List<(long, RecordKind, int)>();
        var salt = RecordFormat.SaltFor(long.Parse(Path.GetFileNameWithoutExtension(path), System.Globalization.CultureInfo.InvariantCulture));
        long offset = 0;
        while (offset < bytes.Length && RecordFormat.TryRead(bytes, offset, salt, out var kind, out _, out var length, out _))
        {
            records.Add((offset, kind, RecordFormat.FrameSize(length)));
            offset += RecordFormat.FrameSize(length);
        }

        Assert.Equal(bytes.Length, offset);
        return records;
    }

    /// <summary>
    /// Writes entries 1..count, one Persist each (every fourth with a hard state), into a single segment; returns the
    /// model after each record and the file length at that record's end.
    /// </summary>
    private static List<(StorageModel Model, long Length)> WriteOneSegment(TempDirectory temp, int count)
    {
        var models = new List<StorageModel>();
        var model = StorageModel.Empty;
        using (var storage = Open(temp.Data, segmentSize: FileRaftStorage.DefaultSegmentSizeLimit))
        {
            storage.Load();
            for (var i = 1; i <= count; i++)
            {
                var entry = Entry(i, 1, size: 10 + (i * 13 % 90));
                HardState? hs = i % 4 == 0 ? new HardState(1 + (i / 8), "n2", i - 2) : null;
                storage.Persist(null, [entry], hs);
                model = model.Append([entry]);
                models.Add(model);
                if (hs is { } h)
                {
                    model = model.With(h);
                    models.Add(model);
                }
            }
        }

        var records = Records(Segments(temp)[0]);
        Assert.Equal(models.Count + 1, records.Count);
        return [.. models.Select((m, i) => (m, records[i + 1].Offset + records[i + 1].Size))];
    }

    [Fact]
    public void A_file_cut_at_any_offset_recovers_the_durable_prefix_and_logs_the_truncation()
    {
        using var temp = new TempDirectory();
        var states = WriteOneSegment(temp, 25);
        var segment = Segments(temp)[0];
        var original = File.ReadAllBytes(segment);
        var headerLength = Records(segment)[0].Size;

        Prop.ForAll(Arb.From(Gen.Choose(0, original.Length - 1)), cut =>
        {
            File.WriteAllBytes(segment, original[..cut]);
            var logger = new ListLogger();
            using var storage = Open(temp.Data, logger, segmentSize: FileRaftStorage.DefaultSegmentSizeLimit);
            var loaded = storage.Load();
            var expected = states.LastOrDefault(s => s.Length <= cut).Model ?? StorageModel.Empty;
            Assert.True(expected.Matches(loaded), $"cut at {cut}: expected {expected}\nloaded  {StorageModel.Describe(loaded)}");
            var cleanCut = cut == 0 || cut == headerLength || states.Any(s => s.Length == cut);
            if (!cleanCut)
            {
                var warning = Assert.Single(logger.Entries, e => e.Id.Id == 1001);
                Assert.Contains(segment, warning.Message, StringComparison.Ordinal);
            }

            // The storage keeps working after the truncation.
            var next = Entry(expected.LastIndex + 1, 7);
            storage.Persist(null, [next], null);
            storage.Dispose();
            using var reopened = Open(temp.Data, segmentSize: FileRaftStorage.DefaultSegmentSizeLimit);
            var reloaded = reopened.Load();
            Assert.True(expected.Append([next]).Matches(reloaded), $"after appending: {StorageModel.Describe(reloaded)}");
        }).Check(PropertyConfig.Seeded(40));
    }

    [Fact]
    public void A_flipped_bit_in_the_middle_is_refused_naming_file_and_offset_and_nothing_is_deleted()
    {
        using var temp = new TempDirectory();
        WriteOneSegment(temp, 25);
        var segment = Segments(temp)[0];
        var original = File.ReadAllBytes(segment);
        var records = Records(segment);

        Prop.ForAll(Arb.From(Gen.Choose(0, records.Count - 2).SelectMany(r => Gen.Choose(0, (records[r].Size * 8) - 1).Select(bit => (r, bit)))), t =>
        {
            var (recordIndex, bit) = t;
            var record = records[recordIndex];
            var damaged = (byte[])original.Clone();
            damaged[record.Offset + (bit / 8)] ^= (byte)(1 << (bit % 8));
            File.WriteAllBytes(segment, damaged);
            if (record.Offset + (bit / 8) >= record.Offset + RecordFormat.HeaderSize + PayloadLength(original, record.Offset))
            {
                // A flip in alignment padding is outside every record's CRC and harmless.
                using var tolerant = Open(temp.Data, segmentSize: FileRaftStorage.DefaultSegmentSizeLimit);
                tolerant.Load();
                return;
            }

            using (var storage = Open(temp.Data, segmentSize: FileRaftStorage.DefaultSegmentSizeLimit))
            {
                var error = Assert.Throws<RaftStorageCorruptedException>(() => storage.Load());
                Assert.Contains(segment, error.Message, StringComparison.Ordinal);
                Assert.Contains($"offset {record.Offset}:", error.Message, StringComparison.Ordinal);
                Assert.Contains("add the node again", error.Message, StringComparison.Ordinal);
            }

            Assert.Equal(damaged, File.ReadAllBytes(segment));
        }).Check(PropertyConfig.Seeded(60));
    }

    /// <summary>60 entries of 200 bytes: several segments at the tests' small segment size.</summary>
    private static void WriteSeveralSegments(TempDirectory temp)
    {
        using var storage = Open(temp.Data);
        storage.Load();
        for (var i = 1; i <= 60; i++)
        {
            storage.Persist(null, [Entry(i, 1, size: 200)], null);
        }
    }

    private static int PayloadLength(byte[] file, long offset) => (int)BitConverter.ToUInt32(file, (int)offset);

    [Fact]
    public void A_flipped_bit_in_the_tail_record_is_truncated_as_a_torn_write()
    {
        using var temp = new TempDirectory();
        var states = WriteOneSegment(temp, 10);
        var segment = Segments(temp)[0];
        var records = Records(segment);
        var last = records[^1];
        var bytes = File.ReadAllBytes(segment);
        bytes[last.Offset + RecordFormat.HeaderSize + 3] ^= 0x10;
        File.WriteAllBytes(segment, bytes);

        var logger = new ListLogger();
        using var storage = Open(temp.Data, logger, segmentSize: FileRaftStorage.DefaultSegmentSizeLimit);
        var loaded = storage.Load();

        var expected = states[^2].Model;
        Assert.True(expected.Matches(loaded), $"expected {expected}\nloaded  {StorageModel.Describe(loaded)}");
        var warning = Assert.Single(logger.Entries, e => e.Id.Id == 1001);
        Assert.Contains($"{segment} at offset {last.Offset}", warning.Message, StringComparison.Ordinal);
        Assert.Equal(last.Offset, new FileInfo(segment).Length);
    }

    [Fact]
    public void Stale_records_of_another_segment_exposed_after_a_torn_tail_are_not_mistaken_for_valid_data()
    {
        // A well-formed record of segment 7, as a deleted segment's block could appear after a crash.
        var foreignWriter = new System.Buffers.ArrayBufferWriter<byte>();
        RecordFormat.WriteEntry(foreignWriter, RecordFormat.SaltFor(7), Entry(6, 1));

        using var temp = new TempDirectory();
        var states = WriteOneSegment(temp, 5);
        var segment = Segments(temp)[0];
        using (var stream = new FileStream(segment, FileMode.Append))
        {
            stream.Write(new byte[40]);
            stream.Write(foreignWriter.WrittenSpan);
        }

        var logger = new ListLogger();
        using var storage = Open(temp.Data, logger, segmentSize: FileRaftStorage.DefaultSegmentSizeLimit);
        var loaded = storage.Load();
        Assert.True(states[^1].Model.Matches(loaded), StorageModel.Describe(loaded));
        Assert.Single(logger.Entries, e => e.Id.Id == 1001);
        Assert.Equal(states[^1].Length, new FileInfo(segment).Length);
    }

    [Fact]
    public void Damage_at_the_end_of_a_segment_that_is_not_the_newest_is_refused()
    {
        using var temp = new TempDirectory();
        WriteSeveralSegments(temp);

        var segments = Segments(temp);
        Assert.True(segments.Length >= 3);
        var victim = segments[1];
        var lastRecord = Records(victim)[^1];
        var bytes = File.ReadAllBytes(victim);
        File.WriteAllBytes(victim, bytes[..(int)(lastRecord.Offset + 5)]);

        using (var storage = Open(temp.Data))
        {
            var error = Assert.Throws<RaftStorageCorruptedException>(() => storage.Load());
            Assert.Contains(victim, error.Message, StringComparison.Ordinal);
            Assert.Contains($"offset {lastRecord.Offset}", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(lastRecord.Offset + 5, new FileInfo(victim).Length);
    }

    [Fact]
    public void A_missing_segment_in_the_middle_is_refused()
    {
        using var temp = new TempDirectory();
        WriteSeveralSegments(temp);

        var segments = Segments(temp);
        File.Delete(segments[1]);
        using var reopened = Open(temp.Data);
        var error = Assert.Throws<RaftStorageCorruptedException>(() => reopened.Load());
        Assert.Contains(segments[2], error.Message, StringComparison.Ordinal);
        Assert.Contains("segment 2 is missing", error.Message, StringComparison.Ordinal);
        Assert.Equal(segments.Length - 1, Segments(temp).Length);
    }

    [Fact]
    public void A_gap_in_entry_indexes_is_refused()
    {
        using var temp = new TempDirectory();
        Directory.CreateDirectory(LogDir(temp));
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        var salt = RecordFormat.SaltFor(1);
        RecordFormat.WriteSegmentHeader(writer, 1);
        RecordFormat.WriteEntry(writer, salt, Entry(1, 1));
        var gapOffset = writer.WrittenCount;
        RecordFormat.WriteEntry(writer, salt, Entry(3, 1));
        var path = Path.Combine(LogDir(temp), "00000000000000000001.seg");
        File.WriteAllBytes(path, writer.WrittenSpan.ToArray());

        using var storage = Open(temp.Data);
        var error = Assert.Throws<RaftStorageCorruptedException>(() => storage.Load());
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains($"offset {gapOffset}:", error.Message, StringComparison.Ordinal);
        Assert.Contains("gap", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_damaged_newest_snapshot_falls_back_to_the_previous_one()
    {
        using var temp = new TempDirectory();
        var model = StorageModel.Empty;
        using (var storage = Open(temp.Data))
        {
            storage.Load();
            for (var i = 1; i <= 80; i++)
            {
                storage.Persist(null, [Entry(i, 1, size: 50)], new HardState(1, "n1", i));
                model = model.Append([Entry(i, 1, size: 50)]).With(new HardState(1, "n1", i));
            }

            storage.InstallSnapshot(Snapshot(30, 1));
            storage.InstallSnapshot(Snapshot(60, 1));
        }

        var older = model.Install(Snapshot(30, 1));
        var newest = Path.Combine(temp.Data, "snap", "00000000000000000060.snap");
        var bytes = File.ReadAllBytes(newest);
        bytes[^3] ^= 0x01;
        File.WriteAllBytes(newest, bytes);

        var logger = new ListLogger();
        using (var storage = Open(temp.Data, logger))
        {
            var loaded = storage.Load();
            Assert.True(older.Matches(loaded), $"expected {older}\nloaded  {StorageModel.Describe(loaded)}");
            Assert.Contains(logger.Entries, e => e.Id.Id == 1002 && e.Message.Contains(newest, StringComparison.Ordinal));
        }

        Assert.Equal(bytes, File.ReadAllBytes(newest));
    }

    [Fact]
    public void A_damaged_only_snapshot_is_refused_naming_the_file()
    {
        using var temp = new TempDirectory();
        using (var storage = Open(temp.Data))
        {
            storage.Load();
            storage.InstallSnapshot(Snapshot(0, 0));
            storage.Persist(null, [Entry(1, 1)], new HardState(1, null, 0));
        }

        var path = Path.Combine(temp.Data, "snap", "00000000000000000000.snap");
        var bytes = File.ReadAllBytes(path);
        bytes[30] ^= 0x40;
        File.WriteAllBytes(path, bytes);

        using var reopened = Open(temp.Data);
        var error = Assert.Throws<RaftStorageCorruptedException>(() => reopened.Load());
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("no older valid snapshot", error.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void A_damaged_snapshot_whose_predecessor_no_longer_connects_to_the_log_is_refused()
    {
        using var temp = new TempDirectory();
        using (var storage = Open(temp.Data))
        {
            storage.Load();
            storage.Persist(null, Enumerable.Range(1, 10).Select(i => Entry(i, 1)).ToList(), null);
            storage.InstallSnapshot(Snapshot(5, 1));

            // A snapshot from a newer term replaces the whole log: the old snapshot cannot be extended by what follows.
            storage.Persist(Snapshot(40, 3), [Entry(41, 3)], new HardState(3, null, 40));
        }

        var newest = Path.Combine(temp.Data, "snap", "00000000000000000040.snap");
        var bytes = File.ReadAllBytes(newest);
        bytes[^1] ^= 0x80;
        File.WriteAllBytes(newest, bytes);

        using var reopened = Open(temp.Data);
        var error = Assert.Throws<RaftStorageCorruptedException>(() => reopened.Load());
        Assert.Contains(newest, error.Message, StringComparison.Ordinal);
        Assert.Contains("offset", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_snapshot_files_are_refused_when_the_log_refers_to_a_snapshot()
    {
        using var temp = new TempDirectory();
        using (var storage = Open(temp.Data))
        {
            storage.Load();
            storage.Persist(null, Enumerable.Range(1, 10).Select(i => Entry(i, 1)).ToList(), null);
            storage.InstallSnapshot(Snapshot(5, 1));
        }

        foreach (var file in Directory.GetFiles(Path.Combine(temp.Data, "snap")))
        {
            File.Delete(file);
        }

        using var reopened = Open(temp.Data);
        var error = Assert.Throws<RaftStorageCorruptedException>(() => reopened.Load());
        Assert.Contains("no snapshot file exists", error.Message, StringComparison.Ordinal);
    }
}

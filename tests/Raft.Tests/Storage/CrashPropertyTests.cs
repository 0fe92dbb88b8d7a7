using FsCheck;
using FsCheck.Fluent;
using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;
using PgRaft.Raft.Tests.Support;
using static PgRaft.Raft.Tests.Storage.StorageFactory;

namespace PgRaft.Raft.Tests.Storage;

/// <summary>
/// Random operation sequences against <see cref="StorageModel"/>, with power cuts injected at random disk operations
/// (inside Persist, inside Load) and after them. After every restart the reloaded state must be one the model says was
/// durable: the state before the interrupted call, a prefix of its effects, or the state after it — never an older
/// one (no fsynced entry dropped, no replaced entry resurrected, term and vote never backwards).
/// </summary>
public sealed class CrashPropertyTests
{
    /// <summary>120 scenarios by default; set PGRAFT_STORAGE_PROPERTY_RUNS for a longer hunt.</summary>
    private static int Runs =>
        int.TryParse(Environment.GetEnvironmentVariable("PGRAFT_STORAGE_PROPERTY_RUNS"), out var runs) && runs > 0 ? runs : 120;

    [Fact]
    public void The_reloaded_state_is_always_one_that_was_durable()
    {
        var scenarios = Gen.Choose(0, int.MaxValue)
            .Zip(Gen.ListOf(Gen.Choose(0, 99_999)).Select(ops => ops.Take(60).ToArray()));
        Prop.ForAll(Arb.From(scenarios), scenario => new Scenario(scenario.Item1).Run(scenario.Item2))
            .Check(PropertyConfig.Seeded(Runs));
    }

    /// <summary>
    /// Found by the property above in CI: a crash tore the hard state off the start of a fresh segment, leaving only
    /// its header, and compaction later deleted the older segments that held the only copy of term and vote.
    /// </summary>
    [Fact]
    public void Compaction_never_deletes_the_only_copy_of_the_hard_state()
    {
        int[] ops =
        [
            51898, 28457, 79638, 59133, 2000, 26778, 67044, 58179, 29662, 69068, 65077, 89477, 95959, 2324, 23634,
            84544, 25867, 41741, 96835, 99755, 13346, 33096, 22787, 19822, 83402, 80804, 46693, 71382, 57700, 29457,
            86010, 49951, 99919, 80812, 61278, 43752, 63357, 36236, 63671, 51730, 83794, 12987, 21816, 79500, 45766,
            74609, 43772, 50833, 47714, 19659, 38170, 61434, 44724, 3501, 62999, 60412, 31588, 95090, 89346, 13021,
        ];
        new Scenario(1607023525).Run(ops);
    }

    [Fact]
    public void A_crash_between_write_and_fsync_leaves_exactly_the_durable_prefix()
    {
        using var temp = new TempDirectory();
        Directory.CreateDirectory(temp.Data);
        var disk = new FaultInjectingDisk(temp.Data, new Random(3));
        var model = StorageModel.Empty;
        using (var storage = Open(temp.Data, disk: disk))
        {
            storage.Load();
            for (var i = 1; i <= 5; i++)
            {
                storage.Persist(null, [Entry(i, 1)], new HardState(1, "n1", i - 1));
                model = model.Append([Entry(i, 1)]).With(new HardState(1, "n1", i - 1));
            }

            // The append lands in the page cache; the fdatasync (2nd operation) never happens.
            disk.ArmCrash(2);
            Assert.ThrowsAny<SimulatedCrashException>(() => storage.Persist(null, [Entry(6, 2)], new HardState(2, "n3", 5)));
        }

        Assert.True(new FileInfo(Directory.GetFiles(Path.Combine(temp.Data, "log"))[0]).Length > 0);
        disk.Crash(keepRandomUnsynced: false);
        using (var storage = Open(temp.Data, disk: disk))
        {
            var loaded = storage.Load();
            Assert.True(model.Matches(loaded), $"expected {model}\nloaded  {StorageModel.Describe(loaded)}");
        }
    }

    private sealed class Scenario(int seed)
    {
        private readonly Random _random = new(seed);
        private readonly List<string> _trace = [];
        private StorageModel _model = StorageModel.Empty;

        public void Run(int[] ops)
        {
            using var temp = new TempDirectory();
            Directory.CreateDirectory(temp.Data);
            var disk = new FaultInjectingDisk(temp.Data, _random);
            var storage = Reload(disk, temp.Data, [_model]);
            try
            {
                foreach (var op in ops)
                {
                    var kind = op % 10;
                    var crashAt = (op / 10) % 3 == 0 ? 1 + (op / 30 % 8) : 0;
                    var keepRandom = op / 240 % 2 == 0;
                    if (kind == 8)
                    {
                        _trace.Add("reopen");
                        storage.Dispose();
                        storage = Reload(disk, temp.Data, [_model]);
                        continue;
                    }

                    if (kind == 9)
                    {
                        _trace.Add($"power cut (random unsynced: {keepRandom})");
                        storage.Dispose();
                        disk.Crash(keepRandom);
                        storage = Reload(disk, temp.Data, [_model]);
                        continue;
                    }

                    var (snapshot, entries, hardState) = NextOperation(kind);
                    _trace.Add(Describe(snapshot, entries, hardState) + (crashAt > 0 ? $" crashing at disk op {crashAt}" : ""));
                    disk.ArmCrash(crashAt);
                    try
                    {
                        storage.Persist(snapshot, entries, hardState);
                        disk.Disarm();
                        _model = _model.StatesDuringPersist(snapshot, entries, hardState)[^1];
                    }
                    catch (SimulatedCrashException)
                    {
                        _trace.Add($"  crashed (random unsynced: {keepRandom})");
                        storage.Dispose();
                        disk.Crash(keepRandom);
                        storage = Reload(disk, temp.Data, _model.StatesDuringPersist(snapshot, entries, hardState));
                    }
                }
            }
            finally
            {
                storage.Dispose();
            }
        }

        private FileRaftStorage Reload(FaultInjectingDisk disk, string directory, IReadOnlyList<StorageModel> allowed)
        {
            for (var attempt = 0; ; attempt++)
            {
                var storage = Open(directory, disk: disk);
                var crashDuringLoad = attempt < 3 && _random.Next(4) == 0;
                disk.ArmCrash(crashDuringLoad ? 1 + _random.Next(3) : 0);
                try
                {
                    var loaded = storage.Load();
                    disk.Disarm();
                    var match = allowed.FirstOrDefault(m => m.Matches(loaded));
                    Assert.True(match is not null,
                        $"reloaded {StorageModel.Describe(loaded)}\nallowed:\n  {string.Join("\n  ", allowed)}\ntrace:\n  {string.Join("\n  ", _trace)}");
                    _model = match;
                    _trace.Add($"  reloaded {_model}");
                    return storage;
                }
                catch (SimulatedCrashException)
                {
                    _trace.Add("  crashed during load");
                    storage.Dispose();
                    disk.Crash(_random.Next(2) == 0);
                }
                catch (Exception error) when (error is not Xunit.Sdk.XunitException)
                {
                    storage.Dispose();
                    throw new InvalidOperationException($"Load failed; trace:\n  {string.Join("\n  ", _trace)}", error);
                }
            }
        }

        private (Snapshot? Snapshot, List<LogEntry> Entries, HardState? HardState) NextOperation(int kind)
        {
            var hs = _model.HardState;
            var term = Math.Max(Math.Max(hs.Term, _model.TermAt(_model.LastIndex) ?? 0), 1);
            switch (kind)
            {
                case 4 when _model.LastIndex > _model.SnapshotIndex:
                {
                    var from = _random.NextInt64(Math.Max(_model.SnapshotIndex + 1, _model.LastIndex - 3), _model.LastIndex + 1);
                    var entries = NewEntries(from, term + 1, 1 + _random.Next(3));
                    return (null, entries, new HardState(term + 1, "n" + _random.Next(3), hs.Commit));
                }

                case 5:
                {
                    var newTerm = term + _random.Next(2);
                    var vote = newTerm != hs.Term ? (_random.Next(2) == 0 ? null : "n" + _random.Next(3)) : hs.VotedFor ?? "n" + _random.Next(3);
                    return (null, [], new HardState(newTerm, vote, _random.NextInt64(hs.Commit, Math.Max(hs.Commit, _model.LastIndex) + 1)));
                }

                case 6 or 7:
                {
                    var index = _random.NextInt64(_model.SnapshotIndex, _model.LastIndex + 3);
                    var existing = _model.TermAt(index);
                    var snapshotTerm = index == _model.SnapshotIndex || (existing is not null && _random.Next(3) > 0) ? existing!.Value : term + 1;
                    var snapshot = Snapshot(index, snapshotTerm, size: _random.Next(300));
                    if (kind == 7)
                    {
                        return (snapshot, [], null);
                    }

                    var next = _model.Install(snapshot).LastIndex + 1;
                    var entries = NewEntries(next, Math.Max(term, snapshotTerm), _random.Next(3));
                    var newTerm = Math.Max(term, snapshotTerm);
                    var vote = newTerm == hs.Term ? hs.VotedFor : null;
                    return (snapshot, entries, _random.Next(2) == 0 ? new HardState(newTerm, vote, index) : null);
                }

                default:
                {
                    var entries = NewEntries(_model.LastIndex + 1, term, 1 + _random.Next(4));
                    HardState? newHs = _random.Next(2) == 0 ? null : hs with { Term = term, Commit = _random.NextInt64(hs.Commit, Math.Max(hs.Commit, _model.LastIndex) + 1) };
                    return (null, entries, newHs);
                }
            }
        }

        private List<LogEntry> NewEntries(long from, long term, int count) =>
            [.. Enumerable.Range(0, count).Select(i => Entry(from + i, term, size: _random.Next(8) == 0 ? 900 : _random.Next(60), seed: _random.Next()))];

        private static string Describe(Snapshot? snapshot, List<LogEntry> entries, HardState? hs) =>
            $"persist snap={(snapshot is null ? "-" : $"{snapshot.Metadata.Index}@{snapshot.Metadata.Term}")} " +
            $"entries=[{string.Join(",", entries.Select(e => $"{e.Index}@{e.Term}"))}] hs={(hs is { } h ? $"({h.Term},{h.VotedFor ?? "-"},{h.Commit})" : "-")}";
    }
}

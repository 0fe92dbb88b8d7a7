using System.Diagnostics;
using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;
using Xunit.Abstractions;
using static PgRaft.Raft.Tests.Storage.StorageFactory;

namespace PgRaft.Raft.Tests.Storage;

/// <summary>
/// Prints Persist figures on the real disk (real fdatasync) — a measurement, not a timing assertion. Run with
/// <c>dotnet test tests/Raft.Tests --filter PersistLatencyFigures --logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class PersistLatencyFigures(ITestOutputHelper output)
{
    [Fact]
    public void Prints_single_entry_latency_and_batch_throughput()
    {
        using var temp = new TempDirectory();
        const int singles = 200;
        const int batches = 40;
        const int batchSize = 64;
        var latencies = new double[singles];
        long index = 0;
        using (var storage = new FileRaftStorage(temp.Data, new ListLogger()))
        {
            storage.Load();
            var payload = new byte[128];
            for (var i = 0; i < singles; i++)
            {
                index++;
                var entry = new LogEntry(index, 1, EntryKind.Command, payload);
                var started = Stopwatch.GetTimestamp();
                storage.Persist(null, [entry], new HardState(1, "n1", index - 1));
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            var batchClock = Stopwatch.StartNew();
            var batch = new LogEntry[batchSize];
            for (var b = 0; b < batches; b++)
            {
                for (var j = 0; j < batchSize; j++)
                {
                    batch[j] = new LogEntry(++index, 1, EntryKind.Command, payload);
                }

                storage.Persist(null, batch, new HardState(1, "n1", index - batchSize));
            }

            batchClock.Stop();
            Array.Sort(latencies);
            output.WriteLine(
                $"Persist(1 x 128 B entry + hard state): p50 {latencies[singles / 2]:F3} ms, p99 {latencies[(int)(singles * 0.99)]:F3} ms, max {latencies[^1]:F3} ms ({singles} calls)");
            output.WriteLine(
                $"Persist(64 x 128 B entries + hard state): {batches * batchSize / batchClock.Elapsed.TotalSeconds:F0} entries/s ({batchClock.Elapsed.TotalMilliseconds / batches:F3} ms per batch)");
        }

        using var reopened = new FileRaftStorage(temp.Data, new ListLogger());
        var loaded = reopened.Load();
        Assert.Equal(index, loaded.Entries.Count);
        Assert.Equal(index - batchSize, loaded.HardState.Commit);
    }
}

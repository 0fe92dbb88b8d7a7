using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using PgRaft.Raft.Core;
using PgRaft.Raft.Storage;

namespace PgRaft.Raft.Tests.Storage;

/// <summary>A unique directory under /tmp, removed on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pgraft-storage-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Data => System.IO.Path.Combine(Path, "data");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Captures formatted log lines so tests can check what was reported.</summary>
internal sealed class ListLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, eventId, formatter(state, exception)));
}

internal static class StorageFactory
{
    public const long SmallSegments = 2048;

    public static FileRaftStorage Open(string directory, ILogger? logger = null, IStorageDisk? disk = null, long segmentSize = SmallSegments) =>
        new(directory, logger ?? new ListLogger(), disk ?? RealStorageDisk.Instance, segmentSize);

    public static LogEntry Entry(long index, long term, int size = 16, int seed = 0)
    {
        var data = new byte[size];
        new Random(HashCode.Combine(index, term, seed)).NextBytes(data);
        return new LogEntry(index, term, (index % 5 == 0) ? EntryKind.ConfigChange : EntryKind.Command, data);
    }

    public static Snapshot Snapshot(long index, long term, int size = 64)
    {
        var data = new byte[size];
        new Random((int)(index * 31 + term)).NextBytes(data);
        return new Snapshot(new SnapshotMetadata(index, term, new Membership(
            ImmutableSortedSet.Create(StringComparer.Ordinal, "n1", "n2", "n3"),
            ImmutableSortedSet.Create(StringComparer.Ordinal, "n4"))), data);
    }
}

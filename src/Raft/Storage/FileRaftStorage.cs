using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Storage;

/// <summary>
/// <see cref="IRaftStorage"/> on local files. Layout under the data directory (mode 0700):
/// <c>log/NNNNNNNNNNNNNNNNNNNN.seg</c> append-only segments numbered consecutively, each starting with a header and the
/// hard state of the moment, then entry, hard-state and snapshot-marker records (length + CRC32C framed);
/// <c>snap/IIIIIIIIIIIIIIIIIIII.snap</c> the newest two snapshots, named by index.
/// Replacing a suffix appends the new entries (a lower index supersedes what follows it on replay), so nothing
/// durable is ever rewritten in place and hard state never goes backwards.
/// </summary>
public sealed class FileRaftStorage : IRaftStorage
{
    public const long DefaultSegmentSizeLimit = 16 * 1024 * 1024;

    private const int SnapshotsKept = 2;
    private const int InitialBufferSize = 64 * 1024;
    private const int MaxRetainedBufferSize = 4 * 1024 * 1024;
    private const string SegmentSuffix = ".seg";
    private const string SnapshotSuffix = ".snap";
    private const string TempSuffix = ".tmp";

    private readonly string _directory;
    private readonly string _logDirectory;
    private readonly string _snapshotDirectory;
    private readonly ILogger _logger;
    private readonly IStorageDisk _disk;
    private readonly long _segmentSizeLimit;
    private ArrayBufferWriter<byte> _buffer = new(InitialBufferSize);
    private readonly List<Segment> _segments = [];
    private readonly List<long> _terms = [];
    private readonly List<long> _snapshotIndexes = [];

    private HardState _hardState = HardState.Empty;
    private long _snapshotIndex;
    private long _snapshotTerm;
    private IStorageFile? _current;
    private FileStream? _lock;
    private bool _loaded;
    private bool _failed;
    private bool _disposed;

    public FileRaftStorage(string directory, ILogger logger)
        : this(directory, logger, RealStorageDisk.Instance, DefaultSegmentSizeLimit)
    {
    }

    internal FileRaftStorage(string directory, ILogger logger, IStorageDisk disk, long segmentSizeLimit)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSizeLimit, 1024);
        _directory = Path.GetFullPath(directory);
        _logDirectory = Path.Combine(_directory, "log");
        _snapshotDirectory = Path.Combine(_directory, "snap");
        _logger = logger;
        _disk = disk;
        _segmentSizeLimit = segmentSizeLimit;
    }

    /// <summary>Index of the last stored entry (the snapshot's index when the log is empty).</summary>
    internal long LastIndex => _snapshotIndex + _terms.Count;

    internal int SegmentCount => _segments.Count;

    public PersistedState Load()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_loaded)
        {
            throw new InvalidOperationException("FileRaftStorage.Load may be called only once.");
        }

        _disk.CreateDirectory(_directory);
        _disk.CreateDirectory(_logDirectory);
        _disk.CreateDirectory(_snapshotDirectory);
        _lock ??= AcquireLock();
        _segments.Clear();
        _snapshotIndexes.Clear();
        _terms.Clear();

        var snapshotLoad = LoadSnapshot();
        var snapshot = snapshotLoad.Snapshot;
        var replay = ReplaySegments(snapshot?.Metadata.Index ?? 0);

        var s = snapshot?.Metadata.Index ?? 0;
        var t = snapshot?.Metadata.Term ?? 0;
        if (snapshot is null && replay.HighestMarkerIndex > 0)
        {
            throw Corrupted(_snapshotDirectory, 0,
                $"the log records a snapshot at index {replay.HighestMarkerIndex} but no snapshot file exists");
        }

        var entries = replay.Entries;
        var keepLog = true;
        if (entries.Count > 0)
        {
            var first = entries[0].Index;
            var last = entries[^1].Index;
            if (first > s + 1)
            {
                var why = snapshotLoad.Damaged is { } damaged
                    ? $"the log starts at index {first} but the newest usable snapshot is at index {s} (the newer snapshot '{damaged}' is damaged and the entries after the older one were already compacted away)"
                    : $"the log starts at index {first} but the snapshot covers only up to index {s}: entries {s + 1}..{first - 1} are missing";
                throw Corrupted(replay.FirstEntryFile ?? _logDirectory, replay.FirstEntryOffset, why);
            }

            if (first <= s)
            {
                if (last >= s && entries[(int)(s - first)].Term == t)
                {
                    entries.RemoveRange(0, (int)(s - first + 1));
                }
                else
                {
                    if (last > s)
                    {
                        LogMessages.LogDiscardedOnLoad(_logger, s, t);
                    }

                    entries.Clear();
                    keepLog = false;
                }
            }
        }

        _hardState = replay.HardState;
        _snapshotIndex = s;
        _snapshotTerm = t;
        foreach (var entry in entries)
        {
            _terms.Add(entry.Term);
        }

        _loaded = true;
        if (_segments.Count > 0)
        {
            _current = _disk.OpenOrCreate(_segments[^1].Path);
        }

        if (snapshot is not null && !replay.Markers.Contains((s, t)))
        {
            // A crash came between the snapshot file and its log record (or compaction removed the record): record
            // what was decided now, so a later replay cannot decide differently once more entries follow.
            try
            {
                AppendRecords(new SnapshotMarkerRecord(s, t, !keepLog), [], null);
            }
            catch
            {
                _failed = true;
                throw;
            }
        }

        LogMessages.StorageLoaded(_logger, _directory, s, s + 1, LastIndex, _segments.Count, _hardState.Term, _hardState.Commit);
        return new PersistedState(_hardState, snapshot, entries);
    }

    public void Persist(Snapshot? snapshot, IReadOnlyList<LogEntry> entries, HardState? hardState)
    {
        EnsureUsable();
        if (snapshot is null && entries.Count == 0 && hardState is null)
        {
            return;
        }

        Validate(snapshot, entries, hardState);
        try
        {
            SnapshotMarkerRecord? marker = null;
            if (snapshot is not null)
            {
                marker = WriteSnapshot(snapshot);
            }

            AppendRecords(marker, entries, hardState);
            if (snapshot is not null)
            {
                Compact();
            }
        }
        catch
        {
            // What reached the disk is unknown now; only a reload can tell.
            _failed = true;
            throw;
        }
    }

    public void InstallSnapshot(Snapshot snapshot) => Persist(snapshot, [], null);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _current?.Dispose();
        _current = null;
        _lock?.Dispose();
        _lock = null;
    }

    private void EnsureUsable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_loaded)
        {
            throw new InvalidOperationException("Call FileRaftStorage.Load before persisting.");
        }

        if (_failed)
        {
            throw new InvalidOperationException(
                "An earlier write to the Raft storage failed, so its durable state is uncertain; restart the node to reload it.");
        }
    }

    private void Validate(Snapshot? snapshot, IReadOnlyList<LogEntry> entries, HardState? hardState)
    {
        var snapshotIndex = _snapshotIndex;
        var lastIndex = LastIndex;
        if (snapshot is not null)
        {
            var meta = snapshot.Metadata;
            if (meta.Index < _snapshotIndex)
            {
                throw new ArgumentException(
                    $"Snapshot index {meta.Index} is older than the stored snapshot's index {_snapshotIndex}.", nameof(snapshot));
            }

            snapshotIndex = meta.Index;
            lastIndex = TermAt(meta.Index) == meta.Term ? Math.Max(lastIndex, meta.Index) : meta.Index;
        }

        if (entries.Count > 0)
        {
            var first = entries[0].Index;
            for (var i = 1; i < entries.Count; i++)
            {
                if (entries[i].Index != first + i)
                {
                    throw new ArgumentException(
                        $"Entries to persist must be contiguous: entry {i} has index {entries[i].Index}, expected {first + i}.", nameof(entries));
                }
            }

            foreach (var entry in entries)
            {
                if (entry.Data.Length > RecordFormat.MaxPayload - 17)
                {
                    throw new ArgumentException(
                        $"Entry {entry.Index} carries {entry.Data.Length} bytes; at most {RecordFormat.MaxPayload - 17} are allowed.", nameof(entries));
                }
            }

            if (first <= snapshotIndex)
            {
                throw new ArgumentException(
                    $"The first entry's index {first} is covered by the snapshot at index {snapshotIndex}.", nameof(entries));
            }

            if (first > lastIndex + 1)
            {
                throw new ArgumentException(
                    $"The first entry's index {first} leaves a gap after the last stored index {lastIndex}.", nameof(entries));
            }
        }

        if (hardState is { } hs)
        {
            if (hs.VotedFor is { } vote && Encoding.UTF8.GetByteCount(vote) > RecordFormat.MaxVoteBytes)
            {
                throw new ArgumentException($"The voted-for node id is longer than {RecordFormat.MaxVoteBytes} bytes.", nameof(hardState));
            }

            // Persisting either would let this node vote twice in one term.
            if (hs.Term < _hardState.Term)
            {
                throw new ArgumentException($"The term may not go backwards: stored {_hardState.Term}, asked to persist {hs.Term}.", nameof(hardState));
            }

            if (hs.Term == _hardState.Term && _hardState.VotedFor is { } stored && hs.VotedFor != stored)
            {
                throw new ArgumentException(
                    $"The vote of term {hs.Term} is already '{stored}' and may not change to '{hs.VotedFor ?? "(none)"}'.", nameof(hardState));
            }
        }
    }

    private long? TermAt(long index)
    {
        if (index == _snapshotIndex)
        {
            return _snapshotTerm;
        }

        return index > _snapshotIndex && index <= LastIndex ? _terms[(int)(index - _snapshotIndex - 1)] : null;
    }

    /// <summary>Writes the snapshot file atomically and updates the in-memory log; the caller appends the marker.</summary>
    private SnapshotMarkerRecord WriteSnapshot(Snapshot snapshot)
    {
        var meta = snapshot.Metadata;
        var bytes = SnapshotFileFormat.Encode(snapshot);
        var tempPath = Path.Combine(_snapshotDirectory, "snapshot" + TempSuffix);
        using (var file = _disk.OpenOrCreate(tempPath))
        {
            file.Truncate(0);
            file.Append(bytes);
            file.SyncData();
        }

        _disk.Rename(tempPath, SnapshotPath(meta.Index));
        _disk.SyncDirectory(_snapshotDirectory);
        if (!_snapshotIndexes.Contains(meta.Index))
        {
            _snapshotIndexes.Add(meta.Index);
            _snapshotIndexes.Sort();
        }

        var keep = TermAt(meta.Index) == meta.Term;
        if (keep)
        {
            _terms.RemoveRange(0, (int)(meta.Index - _snapshotIndex));
        }
        else
        {
            _terms.Clear();
        }

        _snapshotIndex = meta.Index;
        _snapshotTerm = meta.Term;
        LogMessages.SnapshotInstalled(_logger, meta.Index, meta.Term, keep ? "log after it kept" : "log discarded");
        return new SnapshotMarkerRecord(meta.Index, meta.Term, !keep);
    }

    /// <summary>Appends the records of one Ready in a single write and makes them durable with one fdatasync.</summary>
    private void AppendRecords(SnapshotMarkerRecord? marker, IReadOnlyList<LogEntry> entries, HardState? hardState)
    {
        _buffer.ResetWrittenCount();
        var startedSegment = PrepareSegment();
        var salt = _segments[^1].Salt;
        if (marker is { } m)
        {
            RecordFormat.WriteSnapshotMarker(_buffer, salt, m.Index, m.Term, m.DiscardLog);
        }

        foreach (var entry in entries)
        {
            RecordFormat.WriteEntry(_buffer, salt, entry);
        }

        if (hardState is { } hs)
        {
            RecordFormat.WriteHardState(_buffer, salt, hs);
        }

        var current = _current!;
        var hardStateWritten = hardState is not null || (startedSegment && _hardState != HardState.Empty);
        current.Append(_buffer.WrittenSpan);
        current.SyncData();
        if (startedSegment)
        {
            _disk.SyncDirectory(_logDirectory);
        }

        if (hardStateWritten)
        {
            _segments[^1].HasHardState = true;
        }

        if (entries.Count > 0)
        {
            var first = entries[0].Index;
            var keep = (int)(first - _snapshotIndex - 1);
            _terms.RemoveRange(keep, _terms.Count - keep);
            foreach (var entry in entries)
            {
                _terms.Add(entry.Term);
            }

            var segment = _segments[^1];
            segment.MaxEntryIndex = Math.Max(segment.MaxEntryIndex, entries[^1].Index);
        }

        if (hardState is { } newState)
        {
            _hardState = newState;
        }

        if (_buffer.Capacity > MaxRetainedBufferSize)
        {
            // Do not keep a huge batch's buffer alive for the node's lifetime.
            _buffer = new ArrayBufferWriter<byte>(InitialBufferSize);
        }
    }

    /// <summary>Rolls to a new segment when the current one is full; writes the header (and the current hard state) into a fresh one.</summary>
    private bool PrepareSegment()
    {
        if (_current is null || _current.Length >= _segmentSizeLimit)
        {
            _current?.Dispose();
            _current = null;
            var sequence = _segments.Count == 0 ? 1 : _segments[^1].Sequence + 1;
            var path = SegmentPath(sequence);
            _segments.Add(new Segment(sequence, path));
            _current = _disk.OpenOrCreate(path);
            LogMessages.SegmentStarted(_logger, path);
        }

        if (_current.Length > 0)
        {
            return false;
        }

        var segment = _segments[^1];
        RecordFormat.WriteSegmentHeader(_buffer, segment.Sequence);
        if (_hardState != HardState.Empty)
        {
            RecordFormat.WriteHardState(_buffer, segment.Salt, _hardState);
        }

        return true;
    }

    /// <summary>Drops snapshots beyond the newest two and the segments wholly covered by the older kept one.</summary>
    private void Compact()
    {
        while (_snapshotIndexes.Count > SnapshotsKept)
        {
            var path = SnapshotPath(_snapshotIndexes[0]);
            _disk.Delete(path);
            _snapshotIndexes.RemoveAt(0);
            LogMessages.SnapshotDeleted(_logger, path);
        }

        // Keeping the entries after the older kept snapshot lets Load fall back to it if the newest is ever damaged.
        var coveredUpTo = _snapshotIndexes.Count > 0 ? _snapshotIndexes[0] : 0;
        var deletable = 0;
        while (deletable < _segments.Count - 1 && _segments[deletable].MaxEntryIndex <= coveredUpTo)
        {
            deletable++;
        }

        if (deletable > 0 && _hardState != HardState.Empty && !_segments.Skip(deletable).Any(segment => segment.HasHardState))
        {
            // The segments about to go hold the only copy of the hard state (a crash tore it off the start of the
            // newest segment): write it again first, or the term and vote would be lost with them.
            AppendRecords(null, [], _hardState);
        }

        var deleted = false;
        while (_segments.Count > 1 && _segments[0].MaxEntryIndex <= coveredUpTo)
        {
            _disk.Delete(_segments[0].Path);
            LogMessages.SegmentDeleted(_logger, _segments[0].Path, coveredUpTo);
            _segments.RemoveAt(0);
            deleted = true;
        }

        if (deleted)
        {
            _disk.SyncDirectory(_logDirectory);
        }
    }

    private SnapshotLoadResult LoadSnapshot()
    {
        var candidates = new List<(long Index, string Path)>();
        foreach (var name in _disk.ListFiles(_snapshotDirectory))
        {
            var path = Path.Combine(_snapshotDirectory, name);
            if (name.EndsWith(TempSuffix, StringComparison.Ordinal))
            {
                _disk.Delete(path);
                LogMessages.TempFileRemoved(_logger, path);
            }
            else if (TryParseNumberedName(name, SnapshotSuffix, out var index))
            {
                candidates.Add((index, path));
            }
        }

        candidates.Sort((a, b) => b.Index.CompareTo(a.Index));
        Snapshot? chosen = null;
        string? chosenPath = null;
        string? damaged = null;
        string? damagedProblem = null;
        foreach (var (index, path) in candidates)
        {
            var decoded = SnapshotFileFormat.TryDecode(_disk.ReadAllBytes(path), out var problem);
            if (decoded is not null && decoded.Metadata.Index != index)
            {
                problem = $"it holds index {decoded.Metadata.Index} but is named for index {index}";
                decoded = null;
            }

            if (decoded is null)
            {
                LogMessages.SnapshotDamaged(_logger, path, problem!);
                if (chosen is null)
                {
                    damaged ??= path;
                    damagedProblem ??= problem;
                }

                continue;
            }

            _snapshotIndexes.Add(index);
            if (chosen is null)
            {
                chosen = decoded;
                chosenPath = path;
            }
        }

        _snapshotIndexes.Sort();
        if (chosen is null && damaged is not null)
        {
            throw Corrupted(damaged, 0, $"the snapshot is damaged ({damagedProblem}) and no older valid snapshot exists");
        }

        if (chosen is not null && damaged is not null)
        {
            LogMessages.FellBackToOlderSnapshot(_logger, chosen.Metadata.Index, chosenPath!);
        }

        return new SnapshotLoadResult(chosen, damaged);
    }

    private ReplayResult ReplaySegments(long snapshotIndex)
    {
        var numbered = new List<(long Sequence, string Path)>();
        foreach (var name in _disk.ListFiles(_logDirectory))
        {
            if (TryParseNumberedName(name, SegmentSuffix, out var sequence))
            {
                numbered.Add((sequence, Path.Combine(_logDirectory, name)));
            }
        }

        numbered.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        for (var i = 1; i < numbered.Count; i++)
        {
            if (numbered[i].Sequence != numbered[i - 1].Sequence + 1)
            {
                throw Corrupted(numbered[i].Path, 0,
                    $"segment {numbered[i - 1].Sequence + 1} is missing between '{numbered[i - 1].Path}' and this one");
            }
        }

        var result = new ReplayResult(snapshotIndex);
        for (var i = 0; i < numbered.Count; i++)
        {
            var (sequence, path) = numbered[i];
            var segment = new Segment(sequence, path);
            ReplaySegment(segment, _disk.ReadAllBytes(path), isLast: i == numbered.Count - 1, result);
            _segments.Add(segment);
        }

        return result;
    }

    private void ReplaySegment(Segment segment, byte[] bytes, bool isLast, ReplayResult result)
    {
        if (bytes.Length == 0 && !isLast)
        {
            throw Corrupted(segment.Path, 0, "the segment is empty but newer segments follow it");
        }

        var memory = bytes.AsMemory();
        long offset = 0;
        while (offset < bytes.Length)
        {
            if (!RecordFormat.TryRead(bytes, offset, segment.Salt, out var kind, out var payloadOffset, out var payloadLength, out var problem))
            {
                if (!isLast)
                {
                    throw Corrupted(segment.Path, offset, $"bad record ({problem}) in a segment that is not the newest");
                }

                if (RecordFormat.AnyValidRecordAfter(bytes, offset, segment.Salt, out var validAt))
                {
                    throw Corrupted(segment.Path, offset, $"bad record ({problem}) followed by a valid record at offset {validAt}");
                }

                using (var file = _disk.OpenOrCreate(segment.Path))
                {
                    file.Truncate(offset);
                    file.SyncData();
                }

                LogMessages.TornTailTruncated(_logger, segment.Path, offset, problem!, bytes.Length - offset);
                return;
            }

            var payload = bytes.AsSpan(payloadOffset, payloadLength);
            if (offset == 0 || kind == RecordKind.SegmentHeader)
            {
                var (magic, version, sequence) = kind == RecordKind.SegmentHeader ? RecordFormat.ReadSegmentHeader(payload) : default;
                if (offset != 0 || kind != RecordKind.SegmentHeader || magic != RecordFormat.SegmentMagic)
                {
                    throw Corrupted(segment.Path, offset, "the segment header is missing or misplaced");
                }

                if (version != RecordFormat.SegmentVersion)
                {
                    throw Corrupted(segment.Path, offset, $"unsupported segment format version {version}");
                }

                if (sequence != segment.Sequence)
                {
                    throw Corrupted(segment.Path, offset, $"the header says this is segment {sequence}; the file was renamed or copied");
                }
            }
            else if (kind == RecordKind.Entry)
            {
                ApplyEntry(RecordFormat.ReadEntry(memory, payloadOffset, payloadLength), segment, offset, result);
            }
            else if (kind == RecordKind.HardState)
            {
                result.HardState = RecordFormat.ReadHardState(payload);
                segment.HasHardState = true;
            }
            else
            {
                var (index, term, discardLog) = RecordFormat.ReadSnapshotMarker(payload);
                result.HighestMarkerIndex = Math.Max(result.HighestMarkerIndex, index);
                result.Markers.Add((index, term));
                if (discardLog)
                {
                    result.Entries.Clear();
                    result.ExpectedNext = index + 1;
                }
            }

            offset += RecordFormat.FrameSize(payloadLength);
        }
    }

    private void ApplyEntry(LogEntry entry, Segment segment, long offset, ReplayResult result)
    {
        var entries = result.Entries;
        var expected = entries.Count > 0 ? entries[^1].Index + 1 : result.ExpectedNext;
        if (entry.Index > expected)
        {
            // A gap the snapshot covers is harmless: Load dropped entries the snapshot made obsolete without recording it.
            if (entry.Index > result.SnapshotIndex + 1)
            {
                throw Corrupted(segment.Path, offset, $"entry index {entry.Index} leaves a gap: the next index must be {expected}");
            }

            entries.Clear();
        }
        else if (entries.Count > 0 && entry.Index <= entries[0].Index)
        {
            entries.Clear();
        }
        else if (entries.Count > 0)
        {
            var keep = (int)(entry.Index - entries[0].Index);
            entries.RemoveRange(keep, entries.Count - keep);
        }

        if (entries.Count == 0)
        {
            result.FirstEntryFile = segment.Path;
            result.FirstEntryOffset = offset;
        }

        entries.Add(entry);
        segment.MaxEntryIndex = Math.Max(segment.MaxEntryIndex, entry.Index);
    }

    private RaftStorageCorruptedException Corrupted(string file, long offset, string problem)
    {
        LogMessages.StorageCorrupted(_logger, file, offset, problem);
        return new RaftStorageCorruptedException(
            $"Raft storage file '{file}' is damaged at byte offset {offset}: {problem}. " +
            "The node refuses to start rather than lose or invent committed entries; nothing was deleted. " +
            "To recover, remove this node from the cluster from a healthy member, move its data directory " +
            $"'{_directory}' aside (keep it for diagnosis), and add the node again so it restores from a peer.");
    }

    /// <summary>Holds an exclusive lock on <c>LOCK</c> in the data directory so that two processes never share it.</summary>
    private FileStream AcquireLock()
    {
        var path = Path.Combine(_directory, "LOCK");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            return new FileStream(path, options);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException(
                $"The Raft data directory '{_directory}' is in use by another process (cannot lock '{path}': {e.Message}). " +
                "Stop the other pgraft instance or point this one at its own data directory.", e);
        }
    }

    private string SegmentPath(long sequence) =>
        Path.Combine(_logDirectory, sequence.ToString("D20", CultureInfo.InvariantCulture) + SegmentSuffix);

    private string SnapshotPath(long index) =>
        Path.Combine(_snapshotDirectory, index.ToString("D20", CultureInfo.InvariantCulture) + SnapshotSuffix);

    private static bool TryParseNumberedName(string name, string suffix, out long number)
    {
        number = 0;
        return name.Length == 20 + suffix.Length
            && name.EndsWith(suffix, StringComparison.Ordinal)
            && long.TryParse(name.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }

    private sealed class Segment(long sequence, string path)
    {
        public long Sequence { get; } = sequence;

        public string Path { get; } = path;

        /// <summary>Seeds the CRC of every record after the header.</summary>
        public uint Salt { get; } = RecordFormat.SaltFor(sequence);

        /// <summary>Highest entry index written into this segment (0 if none).</summary>
        public long MaxEntryIndex { get; set; }

        /// <summary>Whether a durable hard-state record is in this segment.</summary>
        public bool HasHardState { get; set; }
    }

    private readonly record struct SnapshotMarkerRecord(long Index, long Term, bool DiscardLog);

    private sealed record SnapshotLoadResult(Snapshot? Snapshot, string? Damaged);

    private sealed class ReplayResult(long snapshotIndex)
    {
        public long SnapshotIndex { get; } = snapshotIndex;

        public List<LogEntry> Entries { get; } = [];

        public HardState HardState { get; set; } = HardState.Empty;

        public long? ExpectedNext { get; set; }

        public long HighestMarkerIndex { get; set; }

        public HashSet<(long Index, long Term)> Markers { get; } = [];

        public string? FirstEntryFile { get; set; }

        public long FirstEntryOffset { get; set; }
    }
}

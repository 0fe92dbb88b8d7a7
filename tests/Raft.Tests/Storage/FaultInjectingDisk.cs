using PgRaft.Raft.Storage;

namespace PgRaft.Raft.Tests.Storage;

internal sealed class SimulatedCrashException() : Exception("simulated crash");

/// <summary>
/// Real files in a temp directory, plus a record of what a crash would leave: each file's content as of its last
/// <see cref="IStorageFile.SyncData"/>, and each directory's entries as of its last <see cref="IStorageDisk.SyncDirectory"/>
/// (later creations, renames and deletions are pending, in order). <see cref="ArmCrash"/> makes the n-th mutating
/// operation from now fail like a power cut (a write may land partially); <see cref="Crash"/> then rewrites the
/// directory to what a real disk could hold afterwards. Directories themselves are assumed durable once created.
/// </summary>
internal sealed class FaultInjectingDisk : IStorageDisk
{
    private readonly string _root;
    private readonly Random _random;
    private readonly Dictionary<string, int> _durableNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _names = new(StringComparer.Ordinal);
    private readonly List<(string Directory, Action<Dictionary<string, int>> Apply)> _pending = [];
    private readonly Dictionary<int, byte[]> _durableContent = [];
    private int _nextId;
    private int _crashCountdown;

    public FaultInjectingDisk(string root, Random random)
    {
        _root = Path.GetFullPath(root);
        _random = random;
        Adopt();
    }

    public bool Crashed { get; private set; }

    public int SyncCount { get; private set; }

    /// <summary>Makes the <paramref name="operations"/>-th mutating operation from now (1 = the next) crash.</summary>
    public void ArmCrash(int operations) => _crashCountdown = operations;

    public void Disarm() => _crashCountdown = 0;

    public void CreateDirectory(string path)
    {
        ThrowIfCrashed();
        Directory.CreateDirectory(path);
    }

    public IReadOnlyList<string> ListFiles(string directory)
    {
        ThrowIfCrashed();
        return Directory.Exists(directory) ? Directory.EnumerateFiles(directory).Select(p => Path.GetFileName(p)).ToList() : [];
    }

    public byte[] ReadAllBytes(string path)
    {
        ThrowIfCrashed();
        return File.ReadAllBytes(path);
    }

    public IStorageFile OpenOrCreate(string path)
    {
        path = Path.GetFullPath(path);
        var crash = Tick();
        if (!_names.ContainsKey(path))
        {
            if (crash && _random.Next(2) == 0)
            {
                throw new SimulatedCrashException();
            }

            File.WriteAllBytes(path, []);
            var id = _nextId++;
            _names[path] = id;
            _durableContent[id] = [];
            _pending.Add((Path.GetDirectoryName(path)!, names => names[path] = id));
        }

        if (crash)
        {
            throw new SimulatedCrashException();
        }

        return new FaultFile(this, path, _names[path]);
    }

    public void Rename(string source, string destination)
    {
        source = Path.GetFullPath(source);
        destination = Path.GetFullPath(destination);
        var crash = Tick();
        if (crash && _random.Next(2) == 0)
        {
            throw new SimulatedCrashException();
        }

        File.Move(source, destination, overwrite: true);
        var id = _names[source];
        _names.Remove(source);
        _names[destination] = id;
        _pending.Add((Path.GetDirectoryName(destination)!, names =>
        {
            names.Remove(source);
            names[destination] = id;
        }));
        if (crash)
        {
            throw new SimulatedCrashException();
        }
    }

    public void Delete(string path)
    {
        path = Path.GetFullPath(path);
        var crash = Tick();
        if (crash && _random.Next(2) == 0)
        {
            throw new SimulatedCrashException();
        }

        File.Delete(path);
        _names.Remove(path);
        _pending.Add((Path.GetDirectoryName(path)!, names => names.Remove(path)));
        if (crash)
        {
            throw new SimulatedCrashException();
        }
    }

    public void SyncDirectory(string directory)
    {
        directory = Path.GetFullPath(directory);
        var crash = Tick();
        if (crash && _random.Next(2) == 0)
        {
            throw new SimulatedCrashException();
        }

        foreach (var op in _pending.Where(p => p.Directory == directory).ToList())
        {
            op.Apply(_durableNames);
            _pending.Remove(op);
        }

        SyncCount++;
        if (crash)
        {
            throw new SimulatedCrashException();
        }
    }

    /// <summary>
    /// Rewrites the directory to a state a crash could leave. With <paramref name="keepRandomUnsynced"/> false, exactly
    /// what was synced; otherwise also a random prefix of the pending directory changes and, per file, a random prefix
    /// of the bytes appended since its last sync. Every file handle must be closed.
    /// </summary>
    public void Crash(bool keepRandomUnsynced)
    {
        var names = new Dictionary<string, int>(_durableNames, StringComparer.Ordinal);
        if (keepRandomUnsynced)
        {
            foreach (var op in _pending.Take(_random.Next(_pending.Count + 1)))
            {
                op.Apply(names);
            }
        }

        var currentPathById = _names.ToDictionary(kv => kv.Value, kv => kv.Key);
        var contents = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (path, id) in names)
        {
            var content = _durableContent[id];
            if (keepRandomUnsynced && currentPathById.TryGetValue(id, out var currentPath) && File.Exists(currentPath))
            {
                var current = File.ReadAllBytes(currentPath);
                if (current.AsSpan().StartsWith(content))
                {
                    content = current[..(content.Length + _random.Next(current.Length - content.Length + 1))];
                }
                else if (_random.Next(2) == 0)
                {
                    content = current;
                }
            }

            contents[path] = content;
        }

        foreach (var file in Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories).ToList())
        {
            File.Delete(file);
        }

        foreach (var (path, content) in contents)
        {
            File.WriteAllBytes(path, content);
        }

        Adopt();
    }

    /// <summary>Takes whatever is on disk now as durable.</summary>
    private void Adopt()
    {
        _durableNames.Clear();
        _names.Clear();
        _pending.Clear();
        _durableContent.Clear();
        Crashed = false;
        _crashCountdown = 0;
        foreach (var file in Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories))
        {
            var id = _nextId++;
            _durableNames[file] = id;
            _names[file] = id;
            _durableContent[id] = File.ReadAllBytes(file);
        }
    }

    private void ThrowIfCrashed()
    {
        if (Crashed)
        {
            throw new SimulatedCrashException();
        }
    }

    /// <summary>Counts a mutating operation; true when it is the one that crashes.</summary>
    private bool Tick()
    {
        ThrowIfCrashed();
        if (_crashCountdown > 0 && --_crashCountdown == 0)
        {
            Crashed = true;
            return true;
        }

        return false;
    }

    private sealed class FaultFile(FaultInjectingDisk disk, string path, int id) : IStorageFile
    {
        private readonly FileStream _stream = new(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);

        public long Length => _stream.Length;

        public void Append(ReadOnlySpan<byte> data)
        {
            var crash = disk.Tick();
            _stream.Seek(0, SeekOrigin.End);
            if (crash)
            {
                _stream.Write(data[..disk._random.Next(data.Length + 1)]);
                _stream.Flush();
                throw new SimulatedCrashException();
            }

            _stream.Write(data);
            _stream.Flush();
        }

        public void SyncData()
        {
            var crash = disk.Tick();
            if (crash && disk._random.Next(2) == 0)
            {
                throw new SimulatedCrashException();
            }

            _stream.Flush();
            var content = new byte[_stream.Length];
            _stream.Seek(0, SeekOrigin.Begin);
            _stream.ReadExactly(content);
            disk._durableContent[id] = content;
            disk.SyncCount++;
            if (crash)
            {
                throw new SimulatedCrashException();
            }
        }

        public void Truncate(long length)
        {
            var crash = disk.Tick();
            if (crash && disk._random.Next(2) == 0)
            {
                throw new SimulatedCrashException();
            }

            _stream.SetLength(length);
            if (crash)
            {
                throw new SimulatedCrashException();
            }
        }

        public void Dispose() => _stream.Dispose();
    }
}

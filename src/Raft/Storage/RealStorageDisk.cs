using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace PgRaft.Raft.Storage;

/// <summary>The real disk: regular files, fdatasync, directory fsync through libc.</summary>
internal sealed class RealStorageDisk : IStorageDisk
{
    public static readonly RealStorageDisk Instance = new();

    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FileMode600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }

        Directory.CreateDirectory(path, DirectoryMode);
    }

    public IReadOnlyList<string> ListFiles(string directory) =>
        Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory).Select(p => Path.GetFileName(p)).ToList()
            : [];

    public byte[] ReadAllBytes(string path) => File.ReadAllBytes(path);

    public IStorageFile OpenOrCreate(string path)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate,
            Access = FileAccess.ReadWrite,
            Share = FileShare.Read,
            BufferSize = 0,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode600;
        }

        return new RealStorageFile(new FileStream(path, options));
    }

    public void Rename(string source, string destination) => File.Move(source, destination, overwrite: true);

    public void Delete(string path) => File.Delete(path);

    public void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = NativeMethods.Open(NativeMethods.NullTerminated(directory), NativeMethods.ORdOnly);
        if (fd < 0)
        {
            throw new IOException($"Cannot open directory '{directory}' to fsync it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (NativeMethods.Fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory '{directory}' failed (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = NativeMethods.Close(fd);
        }
    }

    private sealed class RealStorageFile(FileStream stream) : IStorageFile
    {
        private long _length = stream.Length;

        public long Length => _length;

        public void Append(ReadOnlySpan<byte> data)
        {
            RandomAccess.Write(stream.SafeFileHandle, data, _length);
            _length += data.Length;
        }

        public void SyncData()
        {
            if (OperatingSystem.IsLinux())
            {
                SafeFileHandle handle = stream.SafeFileHandle;
                var added = false;
                try
                {
                    handle.DangerousAddRef(ref added);
                    if (NativeMethods.Fdatasync((int)handle.DangerousGetHandle()) != 0)
                    {
                        throw new IOException($"fdatasync of '{stream.Name}' failed (errno {Marshal.GetLastPInvokeError()}).");
                    }
                }
                finally
                {
                    if (added)
                    {
                        handle.DangerousRelease();
                    }
                }
            }
            else
            {
                stream.Flush(flushToDisk: true);
            }
        }

        public void Truncate(long length)
        {
            stream.SetLength(length);
            _length = length;
        }

        public void Dispose() => stream.Dispose();
    }

    private static class NativeMethods
    {
        // A directory opens read-only without O_DIRECTORY, whose value differs between architectures.
        public const int ORdOnly = 0;

        public static byte[] NullTerminated(string path)
        {
            var bytes = new byte[Encoding.UTF8.GetByteCount(path) + 1];
            Encoding.UTF8.GetBytes(path, bytes);
            return bytes;
        }

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Open(byte[] path, int flags);

        [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Fsync(int fd);

        [DllImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Fdatasync(int fd);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Close(int fd);
    }
}

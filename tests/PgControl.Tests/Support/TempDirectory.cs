using PgRaft.PgControl.Processes;

namespace PgRaft.PgControl.Tests.Support;

/// <summary>A unique directory under /tmp that the postgres user can traverse; removed on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory(string label)
    {
        Path = System.IO.Path.Combine("/tmp", $"pgc-{label}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
    }

    public string Path { get; }

    /// <summary>Writes the two password files (0600, owned by the test process, read in-process by PgControl).</summary>
    public (string Super, string Replication) WritePasswordFiles()
    {
        var super = System.IO.Path.Combine(Path, "super.pw");
        var replication = System.IO.Path.Combine(Path, "replication.pw");
        AtomicFile.WriteAsync(super, TestEnvironment.SuperPassword + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite, null, CancellationToken.None).GetAwaiter().GetResult();
        AtomicFile.WriteAsync(replication, TestEnvironment.ReplicationPassword + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite, null, CancellationToken.None).GetAwaiter().GetResult();
        return (super, replication);
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Path))
            {
                Directory.Delete(Path, recursive: true);
            }
        }
        catch (IOException)
        {
            // A process we already killed may still be letting go of a file; /tmp is cleaned eventually.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

namespace PgRaft.PgControl.Processes;

/// <summary>Unix file modes (PgControl runs on Linux only).</summary>
internal static class UnixFiles
{
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static FileStream CreateNew(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("PgControl runs PostgreSQL on Linux only.");
        }
        return new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode });
    }

    public static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("PgControl runs PostgreSQL on Linux only.");
        }
        Directory.CreateDirectory(path, PrivateDirectory);
        File.SetUnixFileMode(path, PrivateDirectory);
    }
}

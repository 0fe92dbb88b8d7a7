namespace PgRaft.Raft.Storage;

/// <summary>
/// The file operations <see cref="FileRaftStorage"/> needs. The real implementation is <see cref="RealStorageDisk"/>;
/// tests substitute one that records what was made durable and can simulate a crash.
/// </summary>
internal interface IStorageDisk
{
    /// <summary>Creates the directory (and its parents) with mode 0700 if missing.</summary>
    void CreateDirectory(string path);

    /// <summary>Names (not paths) of the regular files in <paramref name="directory"/>.</summary>
    IReadOnlyList<string> ListFiles(string directory);

    byte[] ReadAllBytes(string path);

    /// <summary>Opens a file for appending, creating it (mode 0600, empty) if it does not exist.</summary>
    IStorageFile OpenOrCreate(string path);

    /// <summary>Atomically renames, replacing <paramref name="destination"/> if it exists.</summary>
    void Rename(string source, string destination);

    void Delete(string path);

    /// <summary>Makes the directory's entries (creations, renames, deletions) durable.</summary>
    void SyncDirectory(string directory);
}

/// <summary>An open file written only at its end.</summary>
internal interface IStorageFile : IDisposable
{
    long Length { get; }

    void Append(ReadOnlySpan<byte> data);

    /// <summary>Makes everything appended so far durable (fdatasync).</summary>
    void SyncData();

    /// <summary>Cuts the file to <paramref name="length"/> bytes (not durable until <see cref="SyncData"/>).</summary>
    void Truncate(long length);
}

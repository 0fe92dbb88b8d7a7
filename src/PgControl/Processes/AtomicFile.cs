namespace PgRaft.PgControl.Processes;

/// <summary>Writes a file so readers see either the old or the new content, never a torn one.</summary>
internal static class AtomicFile
{
    public static async Task WriteAsync(string path, string content, UnixFileMode mode, OsIdentity? owner, CancellationToken cancellationToken)
    {
        var temporary = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            await using (var stream = UnixFiles.CreateNew(temporary, mode))
            {
                var bytes = System.Text.Encoding.UTF8.GetBytes(content);
                await stream.WriteAsync(bytes, cancellationToken);
                stream.Flush(flushToDisk: true);
            }
            owner?.GiveOwnership(temporary);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }
}

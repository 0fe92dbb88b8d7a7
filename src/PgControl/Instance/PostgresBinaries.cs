using System.Globalization;
using System.Text.RegularExpressions;
using PgRaft.PgControl.Processes;

namespace PgRaft.PgControl.Instance;

/// <summary>Where the PostgreSQL programs are, and which major version they are.</summary>
internal sealed partial record PostgresBinaries(string BinDirectory, int MajorVersion)
{
    public const int OldestSupported = 13;
    public const int NewestTested = 17;

    public string Postgres => Path.Combine(BinDirectory, "postgres");
    public string Initdb => Path.Combine(BinDirectory, "initdb");
    public string PgBasebackup => Path.Combine(BinDirectory, "pg_basebackup");
    public string PgRewind => Path.Combine(BinDirectory, "pg_rewind");
    public string PgControldata => Path.Combine(BinDirectory, "pg_controldata");

    /// <summary>
    /// The configured directory, else <c>pg_config --bindir</c>, else the newest <c>/usr/lib/postgresql/*/bin</c>.
    /// </summary>
    public static async Task<PostgresBinaries> ResolveAsync(string? configured, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            if (!HasServer(configured))
            {
                throw new PgControlException(PgControlError.BinariesNotFound,
                    $"The configured PostgreSQL bin directory '{configured}' does not contain the 'postgres' and 'initdb' programs: point it at the directory holding them (for example /usr/lib/postgresql/15/bin).");
            }
            return await WithVersionAsync(configured, cancellationToken);
        }
        var fromPgConfig = await PgConfigBinDirAsync(cancellationToken);
        if (fromPgConfig is not null && HasServer(fromPgConfig))
        {
            return await WithVersionAsync(fromPgConfig, cancellationToken);
        }
        var newest = NewestUnderUsrLib();
        if (newest is not null)
        {
            return await WithVersionAsync(newest, cancellationToken);
        }
        throw new PgControlException(PgControlError.BinariesNotFound,
            "No PostgreSQL server programs found: configure the bin directory, put pg_config on PATH, or install PostgreSQL 13-17 (for example the postgresql-15 package).");
    }

    private static bool HasServer(string directory) =>
        File.Exists(Path.Combine(directory, "postgres")) && File.Exists(Path.Combine(directory, "initdb"));

    private static async Task<string?> PgConfigBinDirAsync(CancellationToken cancellationToken)
    {
        var pgConfig = OsIdentity.FindOnPath("pg_config");
        if (pgConfig is null)
        {
            return null;
        }
        try
        {
            var result = await ProcessRunner.RunAsync([pgConfig, "--bindir"], TimeSpan.FromSeconds(10), cancellationToken);
            return result.ExitCode == 0 ? result.StandardOutput.Trim() : null;
        }
        catch (PgControlException)
        {
            return null;
        }
    }

    private static string? NewestUnderUsrLib()
    {
        const string root = "/usr/lib/postgresql";
        if (!Directory.Exists(root))
        {
            return null;
        }
        return Directory.GetDirectories(root)
            .Select(d => (Dir: Path.Combine(d, "bin"), Ok: int.TryParse(Path.GetFileName(d).Split('.')[0], out var v), Version: v))
            .Where(x => x.Ok && HasServer(x.Dir))
            .OrderByDescending(x => x.Version)
            .Select(x => x.Dir)
            .FirstOrDefault();
    }

    private static async Task<PostgresBinaries> WithVersionAsync(string directory, CancellationToken cancellationToken)
    {
        var result = await ProcessRunner.RunAsync([Path.Combine(directory, "postgres"), "--version"], TimeSpan.FromSeconds(10), cancellationToken);
        var major = ParseMajorVersion(result.StandardOutput);
        if (result.ExitCode != 0 || major is null)
        {
            throw new PgControlException(PgControlError.BinariesNotFound,
                $"'{directory}/postgres --version' did not report a PostgreSQL version: {result.OutputTail(3)}");
        }
        if (major < OldestSupported)
        {
            throw new PgControlException(PgControlError.UnsupportedVersion,
                $"PostgreSQL {major} in '{directory}' is too old: pgraft needs PostgreSQL {OldestSupported} or newer.");
        }
        return new PostgresBinaries(Path.GetFullPath(directory), major.Value);
    }

    internal static int? ParseMajorVersion(string versionOutput)
    {
        var match = VersionPattern().Match(versionOutput);
        return match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    [GeneratedRegex(@"\(PostgreSQL\)\s+(\d+)")]
    private static partial Regex VersionPattern();
}

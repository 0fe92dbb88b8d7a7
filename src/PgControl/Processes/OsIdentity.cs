namespace PgRaft.PgControl.Processes;

/// <summary>
/// Who PostgreSQL and its tools run as. PostgreSQL refuses to run as root, so a root caller
/// switches to a configured OS user with <c>setpriv</c> (util-linux) and hands it the files it needs.
/// </summary>
internal sealed class OsIdentity
{
    private OsIdentity(string userName, uint uid, uint gid, bool switchUser, string? setprivPath)
    {
        UserName = userName;
        Uid = uid;
        Gid = gid;
        SwitchUser = switchUser;
        SetprivPath = setprivPath;
    }

    public string UserName { get; }
    public uint Uid { get; }
    public uint Gid { get; }

    /// <summary>True when the caller is root and every PostgreSQL process must drop to <see cref="UserName"/>.</summary>
    public bool SwitchUser { get; }

    public string? SetprivPath { get; }

    public static async Task<OsIdentity> ResolveAsync(string? configuredUser, CancellationToken cancellationToken)
    {
        var euid = NativeMethods.EffectiveUserId;
        if (euid == 0)
        {
            if (string.IsNullOrWhiteSpace(configuredUser) || configuredUser == "root")
            {
                throw new PgControlException(PgControlError.OsUserRequired,
                    "pgraft runs as root, but PostgreSQL refuses to run as root: configure the OS user PostgreSQL runs as (for example 'postgres').");
            }
            var setpriv = FindOnPath("setpriv")
                ?? throw new PgControlException(PgControlError.OsUserRequired,
                    "Running PostgreSQL as another OS user needs 'setpriv' (package util-linux), which is not on PATH.");
            var uid = await IdAsync("-u", configuredUser, cancellationToken);
            var gid = await IdAsync("-g", configuredUser, cancellationToken);
            return new OsIdentity(configuredUser, uid, gid, switchUser: true, setpriv);
        }
        var current = Environment.UserName;
        if (!string.IsNullOrWhiteSpace(configuredUser) && configuredUser != current)
        {
            throw new PgControlException(PgControlError.OsUserRequired,
                $"PostgreSQL is configured to run as OS user '{configuredUser}', but pgraft runs as '{current}' and only root can switch users: run pgraft as '{configuredUser}' or as root.");
        }
        var ownGid = await IdAsync("-g", current, cancellationToken);
        return new OsIdentity(current, euid, ownGid, switchUser: false, setprivPath: FindOnPath("setpriv"));
    }

    /// <summary>Prefixes a command so it runs as the OS user (and optionally gets a parent-death signal).</summary>
    public IReadOnlyList<string> Wrap(IReadOnlyList<string> argv, bool parentDeathSignal = false)
    {
        if (!SwitchUser && !parentDeathSignal)
        {
            return argv;
        }
        var setpriv = SetprivPath
            ?? throw new PgControlException(PgControlError.OsUserRequired, "The postmaster's parent-death signal needs 'setpriv' (package util-linux), which is not on PATH.");
        var wrapped = new List<string> { setpriv };
        if (SwitchUser)
        {
            wrapped.Add($"--reuid={Uid}");
            wrapped.Add($"--regid={Gid}");
            wrapped.Add("--init-groups");
        }
        if (parentDeathSignal)
        {
            wrapped.Add("--pdeathsig=KILL");
        }
        wrapped.Add("--");
        wrapped.AddRange(argv);
        return wrapped;
    }

    /// <summary>Gives a file or directory the caller created to the OS user (no-op unless switching users).</summary>
    public void GiveOwnership(string path)
    {
        if (SwitchUser)
        {
            NativeMethods.Chown(path, Uid, Gid);
        }
    }

    public static string? FindOnPath(string program)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Append("/usr/bin").Append("/bin"))
        {
            var candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static async Task<uint> IdAsync(string flag, string user, CancellationToken cancellationToken)
    {
        var result = await ProcessRunner.RunAsync(["id", flag, user], TimeSpan.FromSeconds(10), cancellationToken);
        if (result.ExitCode != 0 || !uint.TryParse(result.StandardOutput.Trim(), out var id))
        {
            throw new PgControlException(PgControlError.OsUserRequired, $"OS user '{user}' does not exist (id {flag} {user} failed): create it or configure another user.");
        }
        return id;
    }
}

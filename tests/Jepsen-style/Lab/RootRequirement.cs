namespace PgRaft.JepsenStyle.Lab;

/// <summary>Network namespaces, veth pairs and iptables rules need root; without it these tests fail and say so.</summary>
internal static class RootRequirement
{
    public static void Ensure()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException(
                "The Jepsen-style fault tests need root: they create network namespaces, veth pairs, a bridge and iptables rules, " +
                "and run PostgreSQL as the postgres user. Run them as root (CI does, through scripts/test.sh), e.g. " +
                "`sudo -E dotnet test tests/Jepsen-style -c Release`. They were not run.");
        }

        foreach (var tool in new[] { "ip", "iptables", "setpriv" })
        {
            if (!OnPath(tool))
            {
                throw new InvalidOperationException($"The Jepsen-style fault tests need `{tool}` on PATH (scripts/test.sh installs it: iproute2, iptables, util-linux).");
            }
        }
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(folder => File.Exists(Path.Combine(folder, tool)));
}

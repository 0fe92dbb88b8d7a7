namespace PgRaft.JepsenStyle.Lab;

/// <summary>
/// Removes what a killed earlier run of these tests left: namespaces of ours whose owning process is gone (with the
/// processes still inside them), the host's end of their links, and their data folders unless they were kept on purpose.
/// Labs of runs still alive are left alone.
/// </summary>
internal static class StaleLabs
{
    public static async Task RemoveAsync(Action<string> log, CancellationToken cancellationToken)
    {
        var stale = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in await NamespacesAsync(cancellationToken))
        {
            if (LabNames.IdOfNamespace(name) is { } id && !LabOwner.IsAlive(id))
            {
                stale.Add(id);
            }
        }

        foreach (var link in await HostLinksAsync(cancellationToken))
        {
            stale.Add(link[LabNames.LinkPrefix.Length..^1]);
        }

        foreach (var folder in Directory.EnumerateDirectories(Path.GetTempPath(), LabNames.NamespacePrefix + "*"))
        {
            var id = Path.GetFileName(folder)[LabNames.NamespacePrefix.Length..];
            if (!File.Exists(Path.Combine(folder, KeepMarker)))
            {
                stale.Add(id);
            }
        }

        foreach (var id in stale.Where(id => !LabOwner.IsAlive(id)))
        {
            log($"removing the stale lab {id} of an earlier run");
            await RemoveAsync(new LabNames(id), cancellationToken);
        }
    }

    /// <summary>A file in a data folder that PGRAFT_KEEP_TEST_DATA kept: later runs leave that folder alone.</summary>
    public const string KeepMarker = "KEPT";

    /// <summary>Removes every part of one lab; what is already gone is skipped.</summary>
    public static async Task RemoveAsync(LabNames names, CancellationToken cancellationToken)
    {
        var namespaces = (await NamespacesAsync(cancellationToken)).Where(n => LabNames.IdOfNamespace(n) == names.Id).ToList();
        await KillProcessesInAsync(namespaces, cancellationToken);
        foreach (var name in namespaces)
        {
            await ProcessRunner.TryRunAsync("ip", ["netns", "delete", name], cancellationToken);
        }

        // Deleting the hub's namespace removes its veth ends and with them the host's; this covers a half-built lab.
        await ProcessRunner.TryRunAsync("ip", ["link", "delete", names.HostLink], cancellationToken);
        if (Directory.Exists(names.DataFolder) && !File.Exists(Path.Combine(names.DataFolder, KeepMarker)))
        {
            Directory.Delete(names.DataFolder, recursive: true);
        }

        File.Delete(names.OwnerFile);
    }

    /// <summary>kill -9 of every process in the namespaces (a killed test run leaves its pgraft, guards and PostgreSQL).</summary>
    private static async Task KillProcessesInAsync(IReadOnlyList<string> namespaces, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var pids = new List<string>();
            foreach (var name in namespaces)
            {
                var result = await ProcessRunner.TryRunAsync("ip", ["netns", "pids", name], cancellationToken);
                pids.AddRange(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            }

            if (pids.Count == 0)
            {
                return;
            }

            await ProcessRunner.TryRunAsync("kill", ["-KILL", .. pids], cancellationToken);
            await Task.Delay(100, cancellationToken);
        }
    }

    private static async Task<IReadOnlyList<string>> NamespacesAsync(CancellationToken cancellationToken)
    {
        var output = await ProcessRunner.RunAsync("ip", ["netns", "list"], cancellationToken);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ')[0])
            .Where(name => name.StartsWith(LabNames.NamespacePrefix, StringComparison.Ordinal))
            .ToList();
    }

    /// <summary>Host ends of lab links ("pgj" + id + "h") in the test's own namespace.</summary>
    private static async Task<IReadOnlyList<string>> HostLinksAsync(CancellationToken cancellationToken)
    {
        var output = await ProcessRunner.RunAsync("ip", ["-o", "link", "show"], cancellationToken);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(':', 3) is [_, var name, _] ? name.Trim().Split('@')[0] : "")
            .Where(name => name.StartsWith(LabNames.LinkPrefix, StringComparison.Ordinal) && name.EndsWith('h') && name.Length == LabNames.LinkPrefix.Length + 7)
            .ToList();
    }
}

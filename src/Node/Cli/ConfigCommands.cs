using System.CommandLine;
using System.Diagnostics;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Cli;

/// <summary><c>pgraft show-config</c> and <c>pgraft edit-config</c>: the cluster-wide settings kept in the Raft log.</summary>
internal static class ConfigCommands
{
    public static Command Show()
    {
        var command = new Command("show-config", "print the cluster-wide settings (timings, replication mode, PostgreSQL parameters, extra pg_hba lines) as JSON");
        OperatorSession.SetAction(command, OperatorSession.AddCommonOptions(command), (session, _, state, _) =>
        {
            session.Output.Write(SpecDocument.Render(state.Spec));
            return Task.FromResult(0);
        });
        return command;
    }

    public static Command Edit()
    {
        var command = new Command(
            "edit-config",
            "change the cluster-wide settings: in $EDITOR (no options), from a file (--file), or one at a time (--set, --pg, --add-hba); shows the changes and asks before applying them");
        // Its --set changes the cluster's settings, so the node options' --set is not offered.
        var common = OperatorSession.AddCommonOptions(command, nodeOverrides: false);
        var set = new Option<string[]>("--set", "-s") { Description = "a setting, e.g. --set failTimeout=2s, --set mode=sync-strict (repeatable)" };
        var pg = new Option<string[]>("--pg", "-p") { Description = "a PostgreSQL parameter, e.g. --pg work_mem=16MB (repeatable)" };
        var removePg = new Option<string[]>("--remove-pg") { Description = "remove a PostgreSQL parameter set here, so PostgreSQL's default applies (repeatable)" };
        var addHba = new Option<string[]>("--add-hba") { Description = "add a pg_hba.conf line, e.g. --add-hba 'host all all 10.0.0.0/8 scram-sha-256' (repeatable)" };
        var removeHba = new Option<string[]>("--remove-hba") { Description = "remove an extra pg_hba.conf line (repeatable)" };
        var file = new Option<string?>("--file", "-f") { Description = "a whole document like the one `pgraft show-config` prints; settings it leaves out keep their value" };
        var force = new Option<bool>("--force") { Description = "apply without asking" };
        foreach (var option in new Option[] { set, pg, removePg, addHba, removeHba, file, force })
        {
            command.Options.Add(option);
        }

        OperatorSession.SetAction(command, common, async (session, parse, state, cancellationToken) =>
        {
            var errors = new List<string>();
            var before = state.Spec;
            var edits = new Edits(parse.GetValue(set) ?? [], parse.GetValue(pg) ?? [], parse.GetValue(removePg) ?? [], parse.GetValue(addHba) ?? [], parse.GetValue(removeHba) ?? []);
            ClusterSpec after;
            if (parse.GetValue(file) is { } path)
            {
                if (!File.Exists(path))
                {
                    session.Error.WriteLine($"pgraft: {path} does not exist; `pgraft show-config > {path}` writes the current settings to start from");
                    return 2;
                }

                after = SpecDocument.Parse(before, await File.ReadAllTextAsync(path, cancellationToken), errors);
                after = edits.ApplyTo(after, errors);
            }
            else if (!edits.IsEmpty)
            {
                after = edits.ApplyTo(before, errors);
            }
            else if (await EditInteractivelyAsync(session, before, errors, cancellationToken) is { } edited)
            {
                after = edited;
            }
            else
            {
                return 2;
            }

            errors.AddRange(after.Validate());
            if (errors.Count > 0)
            {
                session.Error.WriteLine("pgraft: the settings were not changed:");
                foreach (var error in errors)
                {
                    session.Error.WriteLine("  " + error);
                }

                return 2;
            }

            return await ApplyAsync(session, state, after, parse.GetValue(force), cancellationToken);
        });
        return command;
    }

    private static async Task<int> ApplyAsync(OperatorSession session, ClusterState state, ClusterSpec after, bool force, CancellationToken cancellationToken)
    {
        var before = state.Spec;
        if (SpecDocument.Patch(before, after) is not { } patch)
        {
            session.Output.WriteLine("no changes");
            return 0;
        }

        session.Output.WriteLine("changes:");
        foreach (var line in SpecDocument.Describe(before, after))
        {
            session.Output.WriteLine("  " + line);
        }

        if (!force)
        {
            if (Console.IsInputRedirected)
            {
                session.Error.WriteLine("pgraft: not applied: add --force to apply without a question (standard input is not a terminal)");
                return 1;
            }

            session.Output.Write("apply these changes to the whole cluster? [y/N] ");
            if (Console.ReadLine()?.Trim().ToLowerInvariant() is not ("y" or "yes"))
            {
                session.Output.WriteLine("not applied");
                return 1;
            }
        }

        if (await session.ProposeAsync(state, new PatchSpec(patch), "the change", cancellationToken) is not { } answer)
        {
            return 1;
        }

        session.Output.WriteLine(answer.Message);
        // PostgreSQL reports a parameter that needs a restart once the keepers wrote and reloaded it.
        if (patch.PostgresParameters is not null)
        {
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            if (await session.ReadNodesAsync(cancellationToken) is { } nodes && nodes.Nodes.Where(n => n.PendingRestart is not null).ToList() is { Count: > 0 } pending)
            {
                session.Output.WriteLine($"waiting for a restart: {string.Join("; ", pending.Select(n => $"{n.NodeId} ({n.PendingRestart})"))}");
                session.Output.WriteLine("standbys restart by themselves; `pgraft switchover` applies them to the primary without an outage, `pgraft restart --pending` restarts in place");
            }
        }

        return 0;
    }

    /// <summary>Opens the settings in $VISUAL or $EDITOR; null (with the reason written) when nothing usable came back.</summary>
    private static async Task<ClusterSpec?> EditInteractivelyAsync(OperatorSession session, ClusterSpec before, List<string> errors, CancellationToken cancellationToken)
    {
        if (Console.IsInputRedirected || Console.IsOutputRedirected)
        {
            session.Error.WriteLine("pgraft: edit-config without --set, --pg, --add-hba or --file opens an editor, which needs a terminal");
            return null;
        }

        var editor = Environment.GetEnvironmentVariable("VISUAL") ?? Environment.GetEnvironmentVariable("EDITOR")
            ?? new[] { "/usr/bin/editor", "/usr/bin/vi" }.FirstOrDefault(File.Exists);
        if (string.IsNullOrWhiteSpace(editor))
        {
            session.Error.WriteLine("pgraft: no editor: set $EDITOR, or use --set / --file");
            return null;
        }

        var path = Path.Combine(Path.GetTempPath(), $"pgraft-config-{Environment.ProcessId}.json");
        await File.WriteAllTextAsync(path, SpecDocument.Render(before), cancellationToken);
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(editor + " \"$1\"");
        start.ArgumentList.Add("pgraft-editor");
        start.ArgumentList.Add(path);
        using (var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start the editor {editor}"))
        {
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
            {
                session.Error.WriteLine($"pgraft: the editor exited with {process.ExitCode}; nothing changed (your edit is kept in {path})");
                return null;
            }
        }

        var after = SpecDocument.Parse(before, await File.ReadAllTextAsync(path, cancellationToken), errors);
        if (errors.Count > 0)
        {
            errors.Add($"your edit is kept in {path}; fix it and run `pgraft edit-config --file {path}`");
            return after;
        }

        File.Delete(path);
        return after;
    }

    /// <summary>The one-at-a-time changes of the command line.</summary>
    private sealed record Edits(string[] Settings, string[] Parameters, string[] RemovedParameters, string[] AddedHba, string[] RemovedHba)
    {
        public bool IsEmpty => Settings.Length + Parameters.Length + RemovedParameters.Length + AddedHba.Length + RemovedHba.Length == 0;

        public ClusterSpec ApplyTo(ClusterSpec spec, List<string> errors)
        {
            foreach (var item in Settings)
            {
                if (Split(item, "--set", "failTimeout=2s", errors) is { } pair)
                {
                    if (SpecDocument.Set(spec, pair.Name, pair.Value, out var error) is { } changed)
                    {
                        spec = changed;
                    }
                    else
                    {
                        errors.Add(error!);
                    }
                }
            }

            foreach (var item in Parameters)
            {
                if (Split(item, "--pg", "work_mem=16MB", errors) is { } pair)
                {
                    spec = spec with { PostgresParameters = spec.PostgresParameters.SetItem(pair.Name, pair.Value) };
                }
            }

            foreach (var name in RemovedParameters)
            {
                if (!spec.PostgresParameters.ContainsKey(name))
                {
                    errors.Add($"--remove-pg {name}: the cluster does not set {name}; set here: {(spec.PostgresParameters.IsEmpty ? "none" : string.Join(", ", spec.PostgresParameters.Keys))}");
                }

                spec = spec with { PostgresParameters = spec.PostgresParameters.Remove(name) };
            }

            foreach (var line in AddedHba.Where(l => !spec.ExtraHbaLines.Contains(l)))
            {
                spec = spec with { ExtraHbaLines = spec.ExtraHbaLines.Add(line) };
            }

            foreach (var line in RemovedHba)
            {
                if (!spec.ExtraHbaLines.Contains(line))
                {
                    errors.Add($"--remove-hba: no extra pg_hba line is '{line}'");
                }

                spec = spec with { ExtraHbaLines = spec.ExtraHbaLines.Remove(line) };
            }

            return spec;
        }

        private static (string Name, string Value)? Split(string item, string option, string example, List<string> errors)
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                errors.Add($"{option} '{item}' is not name=value; write e.g. {option} {example}");
                return null;
            }

            return (item[..equals].Trim(), item[(equals + 1)..].Trim());
        }
    }
}

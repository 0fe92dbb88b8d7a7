using Npgsql;
using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Processes;
using PgRaft.PgControl.Rewind;
using PgRaft.PgControl.Wal;

namespace PgRaft.PgControl.Instance;

internal enum DivergenceAction
{
    NothingNeeded,
    Rewound,
    Cloned,
}

/// <summary>What <see cref="PostgresInstance.RewindOrCloneAsync"/> did; <paramref name="AsidePath"/> is where the old data directory went after a clone.</summary>
internal sealed record DivergenceOutcome(DivergenceAction Action, RewindAssessment Assessment, string? AsidePath, string? RewindError);

internal sealed partial class PostgresInstance
{
    /// <summary>
    /// Copies the upstream with pg_basebackup (WAL streamed, fast checkpoint, the given slot) into a new
    /// directory beside the data directory; only when the copy is complete does the old data directory
    /// (if any) move aside with a timestamp suffix and the copy take its place, set up as a standby of the
    /// upstream. A failed copy leaves the old data directory untouched (the incomplete copy is removed).
    /// Returns where the old data directory went, or null when there was none.
    /// </summary>
    public async Task<string?> CloneFromAsync(UpstreamServer upstream, CancellationToken cancellationToken)
    {
        RequireStopped("clone");
        var (binaries, identity) = await EnvironmentAsync(cancellationToken);
        LogMessages.Cloning(_logger, upstream.ToString());
        await WritePassFileAsync(identity, cancellationToken);
        var target = $"{DataDirectory}.clone-{Timestamp()}";
        CreatePrivateDirectory(target, identity);
        var argv = new List<string>
        {
            binaries.PgBasebackup, "-D", target,
            "-d", ConnInfoFor(upstream.Host, upstream.Port, _options.Replication.UserName, _options.ApplicationName),
            "--wal-method=stream", "--checkpoint=fast", "--no-password",
        };
        if (upstream.SlotName is { } slot)
        {
            ValidateSlotName(slot);
            argv.Add("--slot=" + slot);
        }
        ProcessResult result;
        try
        {
            result = await ProcessRunner.RunAsync(identity.Wrap(argv), _options.ToolTimeout, cancellationToken, ParentDirectory, ToolEnvironment());
        }
        catch
        {
            RemoveIncompleteCopy(target);
            throw;
        }
        if (result.ExitCode != 0)
        {
            RemoveIncompleteCopy(target);
            throw new PgControlException(PgControlError.CloneFailed,
                $"pg_basebackup from {upstream} failed with exit code {result.ExitCode}; the data directory was left as it was.", result.OutputTail());
        }
        var aside = Directory.Exists(DataDirectory) ? MoveAside(DataDirectory, "old") : null;
        Directory.Move(target, DataDirectory);
        _upstream = upstream;
        await WriteServerFilesAsync(ServerRole.Standby, cancellationToken);
        return aside;
    }

    private static void RemoveIncompleteCopy(string target)
    {
        // Only ever the half-written copy this call created, never a data directory that served.
        if (Directory.Exists(target) && !File.Exists(Path.Combine(target, "backup_manifest")))
        {
            Directory.Delete(target, recursive: true);
        }
    }

    /// <summary>Runs pg_rewind against <paramref name="source"/> and sets the server up as its standby (it is started by the caller).</summary>
    public async Task RewindFromAsync(UpstreamServer source, CancellationToken cancellationToken)
    {
        RequireStopped("rewind");
        var (binaries, identity) = await EnvironmentAsync(cancellationToken);
        LogMessages.Rewinding(_logger, source.ToString());
        await WritePassFileAsync(identity, cancellationToken);
        // pg_rewind's own crash recovery runs in single-user mode, which refuses a standby.signal.
        var standbySignal = Path.Combine(DataDirectory, StandbySignal);
        if (File.Exists(standbySignal) && !(await ReadControlDataAsync(cancellationToken)).CleanlyShutDown)
        {
            File.Delete(standbySignal);
        }
        var argv = new List<string>
        {
            binaries.PgRewind, "-D", DataDirectory,
            "--source-server=" + ConnInfoFor(source.Host, source.Port, _options.Superuser.UserName, "pgraft-rewind", "postgres"),
        };
        var result = await ProcessRunner.RunAsync(identity.Wrap(argv), _options.ToolTimeout, cancellationToken, ParentDirectory, ToolEnvironment());
        if (result.ExitCode != 0)
        {
            throw new PgControlException(PgControlError.RewindFailed, $"pg_rewind from {source} failed with exit code {result.ExitCode}.", result.OutputTail());
        }
        _upstream = source;
        await WriteServerFilesAsync(ServerRole.Standby, cancellationToken);
    }

    /// <summary>
    /// Decides whether this (stopped) server must be rewound to follow <paramref name="source"/>. A server
    /// that crashed is first brought to a clean state in single-user mode (as pg_rewind would), so the
    /// local end of WAL is known; <paramref name="knownLocalEnd"/> (e.g. the last flush LSN a probe saw) is
    /// taken into account as well.
    /// </summary>
    public async Task<RewindAssessment> AssessRewindAsync(UpstreamServer source, Lsn? knownLocalEnd, CancellationToken cancellationToken)
    {
        RequireStopped("assess a rewind of");
        var (binaries, identity) = await EnvironmentAsync(cancellationToken);
        var control = await ReadControlDataAsync(cancellationToken);
        if (!control.CleanlyShutDown && !File.Exists(Path.Combine(DataDirectory, StandbySignal)))
        {
            await HandleExistingPostmasterAsync(cancellationToken);
            var recovery = await ProcessRunner.RunAsync(
                identity.Wrap([binaries.Postgres, "--single", "-F", "-D", DataDirectory, "template1"]),
                _options.ToolTimeout, cancellationToken, ParentDirectory, standardInput: "");
            if (recovery.ExitCode != 0)
            {
                throw new PgControlException(PgControlError.CommandFailed, $"Crash recovery in single-user mode failed with exit code {recovery.ExitCode}.", recovery.OutputTail());
            }
            control = await ReadControlDataAsync(cancellationToken);
        }
        var localEnd = knownLocalEnd is { } known ? Lsn.Max(known, control.WalEndEstimate) : control.WalEndEstimate;
        var local = new LocalWalState(control.SystemIdentifier, control.CheckpointTimeline, localEnd, control.DataChecksums || control.WalLogHints,
            await ReadTimelineForkAsync(control.CheckpointTimeline, cancellationToken));
        var remote = await ReadSourceStateAsync(source, cancellationToken);
        var assessment = RewindAssessor.Assess(local, remote);
        if (remote.InRecovery && assessment.Decision != RewindDecision.NotNeeded)
        {
            // A source still in recovery (typically a promotion not finished yet) shows a timeline that may lag its
            // real one: neither pg_rewind nor a clone should trust it. The caller retries once it is a primary.
            throw new PgControlException(PgControlError.SourceNotReady,
                $"{source} is still in recovery (a promotion not finished yet?), so whether this server must be rewound cannot be told yet ({assessment.Reason}); retry once it runs as a primary.");
        }
        return assessment;
    }

    /// <summary>
    /// Brings a stopped, possibly diverged server back in line with <paramref name="source"/>: nothing when
    /// it can simply follow, pg_rewind when it went past the fork, and a clone (old directory kept aside)
    /// when rewind is hopeless or fails. Afterwards the server is set up as a standby of the source.
    /// </summary>
    public async Task<DivergenceOutcome> RewindOrCloneAsync(UpstreamServer source, Lsn? knownLocalEnd, CancellationToken cancellationToken)
    {
        RewindAssessment assessment;
        try
        {
            assessment = await AssessRewindAsync(source, knownLocalEnd, cancellationToken);
        }
        catch (PgControlException e) when (e.Error is PgControlError.CommandFailed or PgControlError.DataDirectoryNotInitialized)
        {
            assessment = new RewindAssessment(RewindDecision.Hopeless, e.Message);
        }
        switch (assessment.Decision)
        {
            case RewindDecision.NotNeeded:
                _upstream = source;
                await WriteServerFilesAsync(ServerRole.Standby, cancellationToken);
                return new DivergenceOutcome(DivergenceAction.NothingNeeded, assessment, null, null);
            case RewindDecision.Needed:
                try
                {
                    await RewindFromAsync(source, cancellationToken);
                    return new DivergenceOutcome(DivergenceAction.Rewound, assessment, null, null);
                }
                catch (PgControlException e) when (e.Error == PgControlError.RewindFailed)
                {
                    LogMessages.RewindFallback(_logger, source.ToString(), e.Message);
                    var aside = await CloneFromAsync(source, cancellationToken);
                    return new DivergenceOutcome(DivergenceAction.Cloned, assessment, aside, e.Message);
                }
            default:
                LogMessages.RewindFallback(_logger, source.ToString(), assessment.Reason);
                var asidePath = await CloneFromAsync(source, cancellationToken);
                return new DivergenceOutcome(DivergenceAction.Cloned, assessment, asidePath, null);
        }
    }

    private async Task<SourceWalState> ReadSourceStateAsync(UpstreamServer source, CancellationToken cancellationToken)
    {
        await using var connection = await OpenUpstreamAsync(source, cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT system_identifier FROM pg_control_system())::text, pg_is_in_recovery(),
                   CASE WHEN pg_is_in_recovery()
                        THEN COALESCE(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text
                        ELSE pg_current_wal_flush_lsn()::text END,
                   CASE WHEN pg_is_in_recovery()
                        THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
                        ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END
            """, connection);
        ulong systemIdentifier;
        bool inRecovery;
        Lsn position;
        int timeline;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            systemIdentifier = ulong.Parse(reader.GetString(0), System.Globalization.CultureInfo.InvariantCulture);
            inRecovery = reader.GetBoolean(1);
            position = reader.IsDBNull(2) ? Lsn.Zero : Lsn.Parse(reader.GetString(2));
            timeline = reader.GetInt32(3);
        }
        IReadOnlyList<TimelineHistoryEntry> history = [];
        if (timeline > 1)
        {
            await using var historyCommand = new NpgsqlCommand("SELECT pg_read_file('pg_wal/' || lpad(upper(to_hex($1)), 8, '0') || '.history')", connection);
            historyCommand.Parameters.Add(new NpgsqlParameter { Value = timeline });
            var text = (string)(await historyCommand.ExecuteScalarAsync(cancellationToken))!;
            history = RewindAssessor.ParseHistory(text);
        }
        return new SourceWalState(systemIdentifier, timeline, position, history, inRecovery);
    }

    private void RequireStopped(string what)
    {
        if (IsRunning)
        {
            throw new PgControlException(PgControlError.AlreadyRunning, $"Stop PostgreSQL before you {what} '{DataDirectory}'.");
        }
    }
}

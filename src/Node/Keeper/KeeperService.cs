using Microsoft.Extensions.Logging;
using Npgsql;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Leader;
using PgRaft.Node.Sentinel;
using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Instance;

namespace PgRaft.Node.Keeper;

/// <summary>
/// Runs one node's keeper: observes the local PostgreSQL, reports it to the leader, and takes the one next step the
/// <see cref="KeeperPlanner"/> picks toward the committed view. One action at a time; the lease loop runs beside it.
/// <paramref name="health"/> is every node's health from the leader's last answer to a report (the same the proxies use).
/// </summary>
internal sealed class KeeperService(
    string nodeId,
    PostgresInstance postgres,
    Func<ClusterState> state,
    LeaseKeeper lease,
    Func<KeeperReport, CancellationToken, Task<LeaderClockReading?>> report,
    Func<IReadOnlyList<NodeHealth>?> health,
    Func<ClusterCommand, CancellationToken, Task> propose,
    Configuration.BootstrapOptions setup,
    ILogger<KeeperService> logger)
{
    private static readonly TimeSpan SlotCheckInterval = TimeSpan.FromSeconds(2);

    private readonly LeaderClockEcho _leaderClock = new(lease.Clock);
    private readonly StreamingWatch _streamingWatch = new();

    /// <summary>The leader's last answer to a report (keeper clock when it came) and the node health it carried.</summary>
    private volatile LeaderAnswer? _lastAnswer;

    private string? _upstream;
    private int _standbyTimeline;
    private long? _stoppedForSwitchover;
    private Lsn? _finalLsn;
    private string? _lastWait;
    private DateTime _nextSlotCheck;
    private PostgresConfiguration? _written;
    private (SyncConfig Sync, Lsn? FlushLsn)? _appliedSyncLsn;
    private bool _checkpointAfterPromotion;
    private volatile string? _rebuilding;
    private volatile CompletedOperation? _completedOperation;
    private long _operationInProgress;
    private string? _operationDetail;

    /// <summary>pg_control as read right after a switchover stop; nothing but a keeper action changes it while stopped.</summary>
    private volatile ControlData? _controlAtStop;

    /// <summary>The last observation, for the health endpoints.</summary>
    public LocalPostgres Local { get; private set; } = LocalPostgres.Missing;

    /// <summary>At the last observation PostgreSQL accepted connections (not starting up, not shutting down).</summary>
    public bool Accepting { get; private set; }

    public string? LastError { get; private set; }

    /// <summary>Observes PostgreSQL and reports to the leader; runs in its own loop so a long action (a clone) never silences the node.</summary>
    /// <remarks>
    /// The report echoes the newest leader clock reading taken before the probe, so the leader can date what it
    /// describes: a report delayed on its way must not pass for a newer observation.
    /// </remarks>
    public async Task ReportOnceAsync(CancellationToken cancellationToken)
    {
        var current = state();
        var observedAfter = _leaderClock.BeforeProbe();
        // While initdb, a clone or a rewind rewrites the data directory, it cannot be read (no pg_control yet, or
        // moved aside): report that, rather than fail and fall silent, which would look like a dead node.
        var (local, status) = _rebuilding is { } rebuilding
            ? (LocalPostgres.Missing, PostgresStatus.Stopped(rebuilding))
            : await ObserveAsync(cancellationToken);
        Local = local;
        var built = BuildReport(current, local, status) with { ObservedAfter = observedAfter };
        Accepting = built.Healthy;
        var reading = await report(built, cancellationToken);
        _leaderClock.Received(reading);
        if (reading is not null)
        {
            _lastAnswer = new LeaderAnswer(lease.Clock.Now, health());
        }
    }

    /// <summary>Observes PostgreSQL afresh and takes the one next step toward the committed view; false when it only waited.</summary>
    public async Task<bool> ReconcileOnceAsync(CancellationToken cancellationToken)
    {
        var current = state();
        var (local, _) = await ObserveAsync(cancellationToken);
        var notStreamingFor = _streamingWatch.Observe(nodeId, current, local, await PrimaryAvailableAsync(current, local, cancellationToken), lease.Clock.Now);
        var action = KeeperPlanner.Plan(new KeeperSituation(
            nodeId, current, local, lease.HoldsLease, notStreamingFor, _completedOperation?.Id ?? 0, ParameterRestartTurn(nodeId, current, _lastAnswer, lease.Clock.Now)));
        if (action is RewindAction rewind && !StreamingWatch.PrimaryHealthy(health(), rewind.Source))
        {
            // Until the new primary has finished promoting, it cannot tell whether a rewind is needed (PgControl would
            // refuse: SourceNotReady); asking anyway only spends CPU in the very window the promotion needs it.
            action = new WaitAction($"{rewind.Reason}: waiting until the leader sees {rewind.Source} running as primary");
        }

        if (action is WaitAction wait)
        {
            if (wait.Reason != _lastWait)
            {
                LogMessages.KeeperWaiting(logger, wait.Reason);
                _lastWait = wait.Reason;
            }

            // A node named primary but still without its lease does nothing slow: the grant wakes it to promote.
            if (current.View.Primary != nodeId || lease.HoldsLease)
            {
                await HousekeepAsync(current, local, cancellationToken);
            }

            return false;
        }

        _lastWait = null;
        LogMessages.KeeperActing(logger, action.ToString());
        try
        {
            await ExecuteAsync(action, current, cancellationToken);
            LastError = null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LastError = $"{action.GetType().Name}: {ex.Message}";
            LogMessages.KeeperActionFailed(logger, action.GetType().Name, ex.Message, ex);
        }

        return true;
    }

    private async Task<(LocalPostgres Local, PostgresStatus? Status)> ObserveAsync(CancellationToken cancellationToken)
    {
        if (!postgres.IsInitialized)
        {
            return (LocalPostgres.Missing, null);
        }

        if (postgres.IsRunning)
        {
            var status = await postgres.ProbeAsync(cancellationToken);
            if (status.Running)
            {
                // A probe that could not ask pg_is_in_recovery() falls back to how PgControl started the server.
                var role = status.InRecovery switch
                {
                    true => PgRole.Standby,
                    false => PgRole.Primary,
                    null => postgres.Role == ServerRole.Primary ? PgRole.Primary : PgRole.Standby,
                };
                var position = role == PgRole.Primary ? status.FlushLsn : Max(status.ReceiveLsn, status.ReplayLsn);
                var timeline = status.Timeline ?? 0;
                if (role == PgRole.Standby)
                {
                    // Without a WAL receiver the probe falls back to the last checkpoint's timeline, which lags a
                    // promotion upstream until the next restartpoint: keep the newest timeline this standby streamed.
                    _standbyTimeline = Math.Max(_standbyTimeline, timeline);
                    timeline = _standbyTimeline;
                }

                var fork = timeline == status.Timeline ? status.TimelineFork : await ReadTimelineForkAsync(timeline, cancellationToken);
                return (new LocalPostgres(true, true, role, status.SystemIdentifier, timeline, position, role == PgRole.Standby ? _upstream : null, status.SynchronousStandbyNames ?? "", string.Join(", ", status.PendingRestart), fork, status.Streaming), status);
            }
        }

        var control = _controlAtStop ?? await postgres.ReadControlDataAsync(cancellationToken);
        var stoppedRole = File.Exists(Path.Combine(postgres.DataDirectory, "standby.signal")) ? PgRole.Standby : PgRole.Primary;
        var stoppedFork = await ReadTimelineForkAsync(control.CheckpointTimeline, cancellationToken);
        return (new LocalPostgres(true, false, stoppedRole, control.SystemIdentifier, control.CheckpointTimeline, control.CheckpointLocation, null, "", "", stoppedFork), null);
    }

    /// <summary>
    /// For the stall count, only while this standby follows the primary without streaming: the leader's last answer
    /// (fresh) shows the primary running and healthy, and its PostgreSQL port accepts a TCP connection from here.
    /// </summary>
    private async Task<bool> PrimaryAvailableAsync(ClusterState current, LocalPostgres local, CancellationToken cancellationToken)
    {
        if (current.View.Primary is not { } primary || !KeeperPlanner.FollowsPrimaryWithoutStreaming(nodeId, current, local)
            || _lastAnswer is not { } answer || lease.Clock.Now - answer.At >= current.Spec.FailTimeout
            || !StreamingWatch.PrimaryHealthy(answer.Nodes, primary) || !current.Members.TryGetValue(primary, out var member)
            || !Configuration.HostPort.TryParse(member.PostgresAddress, out var address, out _))
        {
            return false;
        }

        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(current.Spec.FailTimeout);
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(address.Value.Host, address.Value.Port, bounded.Token);
            return true;
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    /// <summary>The fork point of <paramref name="timeline"/> from the data directory; unknown (null) when its history file cannot be read.</summary>
    private async Task<Lsn?> ReadTimelineForkAsync(int timeline, CancellationToken cancellationToken)
    {
        try
        {
            return await postgres.ReadTimelineForkAsync(timeline, cancellationToken);
        }
        catch (Exception ex) when (ex is PgControl.PgControlException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private KeeperReport BuildReport(ClusterState current, LocalPostgres local, PostgresStatus? status)
    {
        var wanted = current.View.PrimarySync;
        return new KeeperReport
        {
            NodeId = nodeId,
            PostgresRunning = local.Running,
            Role = local.Role,
            SystemIdentifier = local.SystemIdentifier,
            Timeline = local.Timeline,
            TimelineFork = local.TimelineFork,
            FlushLsn = local.Role == PgRole.Primary ? (_stoppedForSwitchover is not null && _finalLsn is { } final ? final : local.Position) : null,
            ReceiveLsn = status?.ReceiveLsn,
            ReplayLsn = status?.ReplayLsn,
            Upstream = local.Upstream,
            AppliedSync = local.Running && local.Role == PgRole.Primary && local.SynchronousStandbyNames == wanted.ToSynchronousStandbyNames() ? wanted : null,
            AppliedSyncLsn = _appliedSyncLsn is { } applied && applied.Sync.Equals(wanted) ? applied.FlushLsn : null,
            AppliedGeneration = current.View.Generation,
            StoppedForSwitchover = local.Running ? null : _stoppedForSwitchover,
            Healthy = local.Running && status is { Accepting: true, Error: null },
            Error = LastError ?? status?.Error,
            OperationInProgress = Interlocked.Read(ref _operationInProgress) is var id and > 0 ? id : null,
            CompletedOperation = _completedOperation,
            PendingRestart = local.PendingRestart.Length > 0 ? local.PendingRestart : null,
        };
    }

    private async Task ExecuteAsync(KeeperAction action, ClusterState current, CancellationToken cancellationToken)
    {
        var operationId = action switch
        {
            RestartAction { OperationId: { } id } => id,
            CloneAction { OperationId: { } id } => id,
            _ => (long?)null,
        };
        if (operationId is not { } operation)
        {
            await ExecuteUnlessOperationAsync(action, current, cancellationToken);
            return;
        }

        // Reported while it runs (a primary restarting for the operator is not failed over) and once it ended.
        Interlocked.Exchange(ref _operationInProgress, operation);
        var started = lease.Clock.Now;
        _operationDetail = null;
        try
        {
            await ExecuteUnlessOperationAsync(action, current, cancellationToken);
            _completedOperation = new CompletedOperation(operation, true, $"{(action is CloneAction ? "re-cloned" : "restarted")} in {Describe.Seconds(lease.Clock.Now - started)}{_operationDetail}");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _completedOperation = new CompletedOperation(operation, false, ex.Message);
            throw;
        }
        finally
        {
            Interlocked.Exchange(ref _operationInProgress, 0);
        }
    }

    private async Task ExecuteUnlessOperationAsync(KeeperAction action, ClusterState current, CancellationToken cancellationToken)
    {
        if (action is EndOperationAction end)
        {
            _completedOperation = new CompletedOperation(end.OperationId, end.Succeeded, end.Reason);
            return;
        }

        _controlAtStop = null;
        _rebuilding = action switch
        {
            InitializeAction => "initialising the data directory (initdb)",
            CloneAction clone => $"cloning the data directory from {clone.Upstream}",
            RewindAction rewind => $"rewinding the data directory (or re-cloning) to follow {rewind.Source}",
            _ => null,
        };
        try
        {
            await ExecuteStepAsync(action, current, cancellationToken);
        }
        finally
        {
            _rebuilding = null;
        }
    }

    private async Task ExecuteStepAsync(KeeperAction action, ClusterState current, CancellationToken cancellationToken)
    {
        var generation = current.View.Generation;
        switch (action)
        {
            case InitializeAction:
                await postgres.InitAsync(cancellationToken);
                await WriteConfigurationAsync(current, primary: true, cancellationToken);
                break;
            case CloneAction clone:
                if (postgres.IsRunning)
                {
                    // A stuck standby (the planner re-clones no other running server): it serves nothing it should.
                    await postgres.StopAsync(StopMode.Fast, cancellationToken);
                }

                _streamingWatch.Reset();
                var aside = await postgres.CloneFromAsync(UpstreamFor(current, clone.Upstream), cancellationToken);
                _operationDetail = aside is null ? null : $"; the old data directory is kept at {aside}";
                _standbyTimeline = 0;
                _upstream = clone.Upstream;
                break;
            case StartPrimaryAction:
                await WriteConfigurationAsync(current, primary: true, cancellationToken);
                await postgres.StartAsync(ServerRole.Primary, lease.RemainingUntilFence, current.Bootstrap?.SystemIdentifier, cancellationToken);
                _stoppedForSwitchover = null;
                break;
            case StartStandbyAction start:
                if (start.Upstream is not null)
                {
                    await postgres.FollowAsync(UpstreamFor(current, start.Upstream), cancellationToken);
                }

                await WriteConfigurationAsync(current, primary: false, cancellationToken);
                await postgres.StartAsync(ServerRole.Standby, null, current.Bootstrap?.SystemIdentifier, cancellationToken);
                _upstream = start.Upstream;
                _stoppedForSwitchover = null;
                break;
            case PromoteAction:
                if (!await postgres.RenewLeaseAsync(lease.RemainingUntilFence, cancellationToken))
                {
                    throw new InvalidOperationException("the fencing guard did not take the lease deadline; not promoting");
                }

                // A standby runs with synchronous_standby_names empty: without this, the first commits after the
                // promotion would be acknowledged before any synchronous standby has them (DESIGN §8).
                await WriteConfigurationAsync(current, primary: true, cancellationToken);
                await postgres.PromoteAsync(SlotPlanner.Wanted(nodeId, current).ToList(), cancellationToken);
                _standbyTimeline = 0;
                _upstream = null;
                _checkpointAfterPromotion = true;
                break;
            case FollowAction follow:
                await postgres.FollowAsync(UpstreamFor(current, follow.Upstream), cancellationToken);
                _upstream = follow.Upstream;
                break;
            case FenceAction:
                lease.Release();
                await postgres.FenceAsync(cancellationToken);
                break;
            case RewindAction rewind:
                var outcome = await postgres.RewindOrCloneAsync(UpstreamFor(current, rewind.Source), null, cancellationToken);
                _standbyTimeline = 0;
                LogMessages.KeeperActing(logger, $"rewind from {rewind.Source}: {outcome.Action}{(outcome.AsidePath is null ? "" : $", old data kept at {outcome.AsidePath}")}");
                _upstream = rewind.Source;
                break;
            case ApplySyncAction apply:
                _written = null;
                await WriteConfigurationAsync(current, primary: true, cancellationToken);
                await postgres.ReleaseSynchronousWaitersAsync(cancellationToken);
                // Probed after the reload, so at or past the point the new set took effect: conservative for the sentinel.
                _appliedSyncLsn = (apply.Sync, (await postgres.ProbeAsync(cancellationToken)).FlushLsn);
                break;
            case RestartAction:
                var role = postgres.Role ?? (current.View.Primary == nodeId ? ServerRole.Primary : ServerRole.Standby);
                await postgres.StopAsync(StopMode.Fast, cancellationToken);
                if (role == ServerRole.Primary && !lease.HoldsLease)
                {
                    throw new InvalidOperationException("the primary lease ran out during the restart; PostgreSQL starts again once this node holds one");
                }

                await postgres.StartAsync(role, role == ServerRole.Primary ? lease.RemainingUntilFence : null, current.Bootstrap?.SystemIdentifier, cancellationToken);
                break;
            case StopForSwitchoverAction stop:
                await CheckpointBeforeStopAsync(cancellationToken);
                await postgres.StopAsync(StopMode.Fast, cancellationToken);
                lease.Release();
                var control = await postgres.ReadControlDataAsync(cancellationToken);
                _finalLsn = control.CheckpointLocation;
                _stoppedForSwitchover = stop.Generation;
                // The report that lets the switchover go on comes next: pg_controldata once is enough.
                _controlAtStop = control;
                break;
            default:
                throw new InvalidOperationException($"the keeper cannot execute {action.GetType().Name}");
        }
    }

    /// <summary>Work that keeps a converged node converged: replication slots (SlotPlanner), parameter changes.</summary>
    private async Task HousekeepAsync(ClusterState current, LocalPostgres local, CancellationToken cancellationToken)
    {
        if (!local.Running)
        {
            return;
        }

        var isPrimary = local.Role == PgRole.Primary && current.View.Primary == nodeId;
        await WriteConfigurationAsync(current, isPrimary, cancellationToken);
        if (isPrimary && _checkpointAfterPromotion)
        {
            // Deferred from the promotion, which reported first: pg_rewind against this server reads the new timeline
            // from pg_control, and only a checkpoint writes it there.
            await postgres.CheckpointAsync(cancellationToken);
            _checkpointAfterPromotion = false;
        }

        if (DateTime.UtcNow >= _nextSlotCheck && (isPrimary || local.Role == PgRole.Standby))
        {
            _nextSlotCheck = DateTime.UtcNow + SlotCheckInterval;
            await EnsureSlotsAsync(current, isPrimary, cancellationToken);
            if (isPrimary)
            {
                await RunPostBootstrapAsync(current, cancellationToken);
            }
        }
    }

    /// <summary>
    /// A checkpoint while the primary still takes writes leaves the shutdown checkpoint little to flush, so the write
    /// outage of a switchover is shorter. Bounded: the lease is no longer renewed while the switchover drains.
    /// </summary>
    private async Task CheckpointBeforeStopAsync(CancellationToken cancellationToken)
    {
        var budget = lease.RemainingUntilFence / 2;
        if (budget < TimeSpan.FromMilliseconds(100))
        {
            return;
        }

        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(budget);
        try
        {
            await postgres.CheckpointAsync(bounded.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Too slow: the shutdown checkpoint does the rest.
        }
    }

    private async Task EnsureSlotsAsync(ClusterState current, bool runsAsPrimary, CancellationToken cancellationToken)
    {
        var wanted = SlotPlanner.Wanted(nodeId, current);
        var existing = await postgres.ListSlotsAsync(cancellationToken);
        var dropped = new HashSet<string>(StringComparer.Ordinal);
        foreach (var slot in existing)
        {
            if (SlotPlanner.DropReason(nodeId, current, runsAsPrimary, slot, wanted) is not { } reason)
            {
                continue;
            }

            await postgres.DropSlotAsync(slot.Name, cancellationToken);
            dropped.Add(slot.Name);
            LogMessages.SlotDropped(logger, slot.Name, reason);
        }

        foreach (var slot in wanted.Except(existing.Select(s => s.Name).Except(dropped)))
        {
            var reserve = SlotPlanner.ReserveOnCreate(runsAsPrimary);
            await postgres.CreateSlotAsync(slot, reserve, cancellationToken);
            if (current.Spec.PermanentSlots.Contains(slot) || dropped.Contains(slot))
            {
                LogMessages.SlotCreated(logger, slot, reserve ? "reserving WAL from now" : "holding no WAL until a consumer streams through it");
            }
        }
    }

    /// <summary>
    /// Once, on the bootstrap primary: the configured roles (passwords sent as SCRAM verifiers, never in clear text),
    /// databases and post-bootstrap script; then the log records it, so a later primary never runs them again.
    /// </summary>
    private async Task RunPostBootstrapAsync(ClusterState current, CancellationToken cancellationToken)
    {
        if (current.Bootstrap is not { PostBootstrapScriptDone: false } bootstrap || bootstrap.NodeId != nodeId)
        {
            return;
        }

        await using var connection = new NpgsqlConnection(postgres.LocalConnectionString());
        await connection.OpenAsync(cancellationToken);
        foreach (var user in setup.Users)
        {
            var verifier = ScramVerifier.Create((await File.ReadAllTextAsync(user.PasswordFile, cancellationToken)).TrimEnd('\r', '\n'));
            var role = PostgresInstance.QuoteIdentifier(user.Name);
            await ExecuteAsync(connection, $"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {Literal(user.Name)}) THEN CREATE ROLE {role} LOGIN{(user.Superuser ? " SUPERUSER" : "")}; END IF; END$$", cancellationToken);
            await ExecuteAsync(connection, $"ALTER ROLE {role} PASSWORD {Literal(verifier)}", cancellationToken);
        }

        foreach (var database in setup.Databases)
        {
            await using var exists = new NpgsqlCommand("SELECT count(*) FROM pg_database WHERE datname = $1", connection) { Parameters = { new() { Value = database } } };
            if ((long)(await exists.ExecuteScalarAsync(cancellationToken))! == 0)
            {
                await ExecuteAsync(connection, $"CREATE DATABASE {PostgresInstance.QuoteIdentifier(database)}", cancellationToken);
            }
        }

        if (setup.PostBootstrapSqlFile is { } script)
        {
            await ExecuteAsync(connection, await File.ReadAllTextAsync(script, cancellationToken), cancellationToken);
        }

        await propose(new RecordPostBootstrapScriptDone(nodeId), cancellationToken);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    private async Task WriteConfigurationAsync(ClusterState current, bool primary, CancellationToken cancellationToken)
    {
        var configuration = new PostgresConfiguration
        {
            Parameters = current.Spec.PostgresParameters,
            SynchronousStandbyNames = primary ? current.View.PrimarySync.ToSynchronousStandbyNames() : "",
            MemberAddresses = current.Members.Values.Select(m => HostOf(m.PostgresAddress)).Distinct(StringComparer.Ordinal).ToList(),
            ExtraHbaLines = current.Spec.ExtraHbaLines,
        };
        if (_written is not null && SameConfiguration(_written, configuration))
        {
            return;
        }

        var change = await postgres.WriteConfigurationAsync(configuration, cancellationToken);
        if (postgres.IsRunning && change.ReloadNeeded)
        {
            await postgres.ReloadAsync(cancellationToken);
        }

        _written = configuration;
    }

    private static bool SameConfiguration(PostgresConfiguration a, PostgresConfiguration b) =>
        a.SynchronousStandbyNames == b.SynchronousStandbyNames
        && a.Parameters.Count == b.Parameters.Count && a.Parameters.All(p => b.Parameters.TryGetValue(p.Key, out var v) && v == p.Value)
        && a.MemberAddresses.SequenceEqual(b.MemberAddresses) && a.ExtraHbaLines.SequenceEqual(b.ExtraHbaLines);

    private UpstreamServer UpstreamFor(ClusterState current, string upstreamId)
    {
        if (!current.Members.TryGetValue(upstreamId, out var member))
        {
            throw new InvalidOperationException($"{upstreamId} is not a registered member, so its PostgreSQL address is unknown");
        }

        var address = ParseAddress(member.PostgresAddress);
        return new UpstreamServer(address.Host, address.Port, PostgresInstance.SlotNameFor(nodeId));
    }

    private static string HostOf(string address) => ParseAddress(address).Host;

    private static Configuration.HostPort ParseAddress(string address) =>
        Configuration.HostPort.TryParse(address, out var parsed, out var error) ? parsed.Value : throw new InvalidOperationException($"member address {error}");

    /// <summary>
    /// Whether this standby may restart for changed parameters now (null) or why not: one standby at a time, the lowest
    /// node id first, and only while every other standby runs healthy by the leader's fresh answer, so a synchronous
    /// standby is always left to the primary.
    /// </summary>
    internal static string? ParameterRestartTurn(string nodeId, ClusterState current, LeaderAnswer? answer, TimeSpan now)
    {
        if (answer is not { Nodes: { } nodes } || now - answer.At >= current.Spec.FailTimeout)
        {
            return "no fresh word from the Raft leader on the other standbys";
        }

        foreach (var member in current.Members.Keys.Where(id => id != nodeId && id != current.View.Primary))
        {
            var health = nodes.FirstOrDefault(n => n.NodeId == member);
            if (health is not { Running: true, Healthy: true })
            {
                return $"{member} is not running healthy";
            }

            if (health.PendingRestart is not null && string.CompareOrdinal(member, nodeId) < 0)
            {
                return $"{member} restarts first";
            }
        }

        return null;
    }

    internal sealed record LeaderAnswer(TimeSpan At, IReadOnlyList<NodeHealth>? Nodes);

    private static Lsn? Max(Lsn? a, Lsn? b) => a is { } x && b is { } y ? Lsn.Max(x, y) : a ?? b;
}

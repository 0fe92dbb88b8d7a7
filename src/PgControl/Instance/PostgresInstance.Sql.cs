using System.Text.RegularExpressions;
using Npgsql;
using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Processes;
using PgRaft.PgControl.Wal;

namespace PgRaft.PgControl.Instance;

internal sealed partial class PostgresInstance
{
    /// <summary>The local server answers at once or is not up: probes must not hang on it.</summary>
    private static readonly TimeSpan LocalConnectTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Creates the named physical slots ($1, text[]) that do not exist yet, reserving WAL from now.</summary>
    private const string CreateMissingSlotsSql =
        "SELECT pg_create_physical_replication_slot(name, $2) FROM unnest($1::text[]) AS name " +
        "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = name)";

    private const string ProbeSql = """
        SELECT pg_is_in_recovery(),
               (SELECT system_identifier FROM pg_control_system())::text,
               CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END,
               pg_last_wal_receive_lsn()::text,
               pg_last_wal_replay_lsn()::text,
               CASE WHEN pg_is_in_recovery()
                    THEN GREATEST((SELECT received_tli FROM pg_stat_wal_receiver),
                                  (SELECT NULLIF(min_recovery_end_timeline, 0) FROM pg_control_recovery()),
                                  (SELECT timeline_id FROM pg_control_checkpoint()))
                    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
               current_setting('synchronous_standby_names'),
               ARRAY(SELECT name FROM pg_settings WHERE pending_restart ORDER BY name),
               (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'),
               (SELECT status FROM pg_stat_wal_receiver);
        SELECT application_name, client_addr::text, state, sync_state, sent_lsn::text, flush_lsn::text, replay_lsn::text
          FROM pg_stat_replication ORDER BY application_name;
        """;

    internal NpgsqlConnectionStringBuilder ConnectionStringFor(string host, int port, PostgresCredentials credentials, TimeSpan connectTimeout, string database = "postgres") =>
        new()
        {
            Host = host,
            Port = port,
            Username = credentials.UserName,
            Password = credentials.ReadPassword(),
            Database = database,
            Pooling = false,
            Timeout = Math.Max(1, (int)Math.Ceiling(connectTimeout.TotalSeconds)),
            CommandTimeout = 60,
            ApplicationName = "pgraft",
        };

    private static NpgsqlDataSource BuildDataSource(NpgsqlConnectionStringBuilder connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString.ConnectionString);
        // Probes open a fresh connection each time; loading the type catalogue would double their cost.
        builder.ConfigureTypeLoading(typeLoading => typeLoading.EnableTypeLoading(false));
        return builder.Build();
    }

    /// <summary>A superuser connection string to the local server (built in memory; never logged).</summary>
    internal string LocalConnectionString(string database = "postgres") =>
        ConnectionStringFor(_options.EffectiveConnectHost, _options.Port, _options.Superuser, TimeSpan.FromSeconds(3), database).ConnectionString;

    /// <summary>
    /// A connection to the local server from a small pool: the keeper probes several times a second, and a fresh
    /// connection each time (TCP, SCRAM, a forked backend) cost more CPU than the probe. The pool is emptied whenever
    /// the postmaster starts or goes away, so no connection outlives the server it was made to.
    /// </summary>
    private async Task<NpgsqlConnection> OpenLocalAsync(CancellationToken cancellationToken)
    {
        NpgsqlDataSource dataSource;
        lock (_localGate)
        {
            if (_localDataSource is null)
            {
                var connectionString = ConnectionStringFor(_options.EffectiveConnectHost, _options.Port, _options.Superuser, LocalConnectTimeout);
                connectionString.Pooling = true;
                connectionString.MaxPoolSize = 4;
                connectionString.ConnectionIdleLifetime = 60;
                _localDataSource = BuildDataSource(connectionString);
            }

            dataSource = _localDataSource;
        }

        return await dataSource.OpenConnectionAsync(cancellationToken);
    }

    /// <summary>Closes every pooled local connection; the next one is made afresh.</summary>
    private void ResetLocalConnections()
    {
        NpgsqlDataSource? old;
        lock (_localGate)
        {
            old = _localDataSource;
            _localDataSource = null;
        }

        old?.Dispose();
    }

    private async Task<NpgsqlConnection> OpenUpstreamAsync(UpstreamServer source, CancellationToken cancellationToken)
    {
        await using var dataSource = BuildDataSource(ConnectionStringFor(source.Host, source.Port, _options.Superuser, TimeSpan.FromSeconds(5)));
        return await dataSource.OpenConnectionAsync(cancellationToken);
    }

    /// <summary>One look at the server: the postmaster process first, then (when it lives) one connection.</summary>
    public async Task<PostgresStatus> ProbeAsync(CancellationToken cancellationToken)
    {
        if (_postmaster is not { HasExited: false } postmaster)
        {
            return PostgresStatus.Stopped();
        }
        var pid = postmaster.PostmasterPid;
        if (pid is { } known && !NativeMethods.IsRunning(known))
        {
            // Dead already, though the guard may not have reaped it yet.
            return PostgresStatus.Stopped("the postmaster process is gone");
        }
        try
        {
            await using var connection = await OpenLocalAsync(cancellationToken);
            await using var batch = new NpgsqlCommand(ProbeSql, connection);
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            var inRecovery = reader.GetBoolean(0);
            var systemIdentifier = ulong.Parse(reader.GetString(1), System.Globalization.CultureInfo.InvariantCulture);
            var flush = LsnOrNull(reader, 2);
            var receive = LsnOrNull(reader, 3);
            var replay = LsnOrNull(reader, 4);
            int? timeline = reader.IsDBNull(5) ? null : reader.GetInt32(5);
            var syncNames = reader.GetString(6);
            var pending = reader.GetFieldValue<string[]>(7);
            var upstream = reader.IsDBNull(8) ? null : reader.GetString(8);
            var receiverStatus = reader.IsDBNull(9) ? null : reader.GetString(9);
            await reader.NextResultAsync(cancellationToken);
            var clients = new List<ReplicationClient>();
            while (await reader.ReadAsync(cancellationToken))
            {
                clients.Add(new ReplicationClient(
                    reader.IsDBNull(0) ? "" : reader.GetString(0),
                    reader.IsDBNull(1) ? null : reader.GetString(1),
                    reader.IsDBNull(2) ? "" : reader.GetString(2),
                    reader.IsDBNull(3) ? "" : reader.GetString(3),
                    LsnOrNull(reader, 4), LsnOrNull(reader, 5), LsnOrNull(reader, 6)));
            }
            var fork = timeline is { } tli ? await ReadTimelineForkOrNullAsync(tli, cancellationToken) : null;
            return new PostgresStatus(true, true, pid, inRecovery, systemIdentifier, timeline, flush, receive, replay, upstream, syncNames, clients, pending, null, fork, receiverStatus);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            var alive = !postmaster.HasExited;
            return alive
                ? PostgresStatus.Stopped(e.Message) with { Running = true, PostmasterPid = pid }
                : PostgresStatus.Stopped(e.Message);
        }
    }

    private static Lsn? LsnOrNull(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : Lsn.Parse(reader.GetString(ordinal));

    /// <summary>Makes the running server re-read its configuration files.</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        RequireRunning();
        await ExecuteLocalAsync("SELECT pg_reload_conf()", cancellationToken);
    }

    private async Task<IReadOnlyList<string>> QueryRestartRequiredAsync(IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        await using var connection = await OpenLocalAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT name FROM pg_settings WHERE name = ANY($1) AND context = 'postmaster' ORDER BY name", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = names.ToArray() });
        var result = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(reader.GetString(0));
        }
        return result;
    }

    private async Task ExecuteLocalAsync(string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        await using var connection = await OpenLocalAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private void RequireRunning()
    {
        if (!IsRunning)
        {
            throw new PgControlException(PgControlError.NotRunning, $"PostgreSQL on '{DataDirectory}' is not running.");
        }
    }

    // ---------------------------------------------------------------- slots

    /// <summary>
    /// Creates a physical slot; no-op when it exists. With <paramref name="reserveWal"/> it holds WAL from now; without,
    /// its restart_lsn stays empty (nothing held) until a standby streams through it.
    /// </summary>
    public async Task CreateSlotAsync(string name, bool reserveWal, CancellationToken cancellationToken)
    {
        ValidateSlotName(name);
        RequireRunning();
        await ExecuteLocalAsync(CreateMissingSlotsSql, cancellationToken, (object)new[] { name }, reserveWal);
    }

    /// <summary>Creates a physical slot reserving WAL from now; no-op when it exists.</summary>
    public Task CreateSlotAsync(string name, CancellationToken cancellationToken) => CreateSlotAsync(name, reserveWal: true, cancellationToken);

    /// <summary>Drops a physical slot; no-op when it does not exist. An active slot's walsender is terminated first.</summary>
    public async Task DropSlotAsync(string name, CancellationToken cancellationToken)
    {
        ValidateSlotName(name);
        RequireRunning();
        await ExecuteLocalAsync(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL",
            cancellationToken, name);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await ExecuteLocalAsync(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                    cancellationToken, name);
                return;
            }
            catch (PostgresException e) when (e.SqlState == "55006" && attempt < 50)
            {
                await Task.Delay(100, cancellationToken); // Still active: the walsender is exiting.
            }
        }
    }

    public async Task<IReadOnlyList<ReplicationSlot>> ListSlotsAsync(CancellationToken cancellationToken)
    {
        RequireRunning();
        await using var connection = await OpenLocalAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT slot_name::text, active, restart_lsn::text FROM pg_replication_slots WHERE slot_type = 'physical' ORDER BY slot_name", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var slots = new List<ReplicationSlot>();
        while (await reader.ReadAsync(cancellationToken))
        {
            slots.Add(new ReplicationSlot(reader.GetString(0), reader.GetBoolean(1), LsnOrNull(reader, 2)));
        }
        return slots;
    }

    /// <summary>A valid slot name for a member id: lower case, [a-z0-9_], at most 63 characters.</summary>
    public static string SlotNameFor(string memberId)
    {
        var name = SlotUnsafe().Replace(memberId.ToLowerInvariant(), "_");
        return name.Length > 63 ? name[..63] : name;
    }

    private static void ValidateSlotName(string name)
    {
        if (name.Length is 0 or > 63 || SlotUnsafe().IsMatch(name))
        {
            throw new PgControlException(PgControlError.InvalidArgument,
                $"'{name}' is not a replication slot name (1-63 of a-z, 0-9, '_'); use PostgresInstance.SlotNameFor.");
        }
    }

    [GeneratedRegex("[^a-z0-9_]")]
    private static partial Regex SlotUnsafe();

    // ---------------------------------------------------------------- roles

    /// <summary>
    /// Promotes the running standby and returns once it accepts writes, with a physical slot for each of
    /// <paramref name="slots"/> already there, so standbys that follow it can stream at once. Needs a lease (sent with
    /// <see cref="RenewLeaseAsync"/> or at start) unless NoLeaseRequired. Call <see cref="CheckpointAsync"/> afterwards
    /// (off the critical path) before others pg_rewind from this server: until then pg_control names the old timeline.
    /// </summary>
    public async Task PromoteAsync(IReadOnlyCollection<string> slots, CancellationToken cancellationToken)
    {
        RequireRunning();
        if (!_leaseGranted && !_options.NoLeaseRequired)
        {
            throw new PgControlException(PgControlError.LeaseRequired, "Promotion needs a lease first (RenewLeaseAsync), so the new primary is fenced from its first write.");
        }
        foreach (var slot in slots)
        {
            ValidateSlotName(slot);
        }
        LogMessages.Promoting(_logger);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        long slotsDone = started, syncNamesDone = started;
        await using (var connection = await OpenLocalAsync(cancellationToken))
        {
            await using var check = new NpgsqlCommand("SELECT pg_is_in_recovery()", connection);
            if ((bool)(await check.ExecuteScalarAsync(cancellationToken))!)
            {
                // Slots first, while still a standby (physical slots can be made in recovery): the other standbys,
                // re-pointed at this server as soon as the view names it, then find their slot on their first try
                // instead of waiting out wal_retrieve_retry_interval, and follow the timeline switch by streaming.
                await CreateMissingSlotsAsync(connection, slots, cancellationToken);
                slotsDone = System.Diagnostics.Stopwatch.GetTimestamp();
                await ApplySynchronousStandbyNamesBeforePromotionAsync(connection, cancellationToken);
                syncNamesDone = System.Diagnostics.Stopwatch.GetTimestamp();
                // pg_promote(true) checks for the end of recovery only every 100 ms; the loop below asks every 10 ms.
                await using var promote = new NpgsqlCommand("SELECT pg_promote(false)", connection);
                if (!(bool)(await promote.ExecuteScalarAsync(cancellationToken))!)
                {
                    throw new PgControlException(PgControlError.PromoteFailed, "pg_promote could not signal the postmaster.", ReadLogTail());
                }
            }
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var poll = 1; ; poll++)
            {
                await using var writable = new NpgsqlCommand("SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'", connection);
                if ((bool)(await writable.ExecuteScalarAsync(cancellationToken))!)
                {
                    break;
                }
                if (clock.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new PgControlException(PgControlError.PromoteFailed, "The server did not become writable within 60 s of promotion.", ReadLogTail());
                }
                if (poll % 3 == 0)
                {
                    await SignalPromotionAgainAsync(connection, cancellationToken);
                }
                await Task.Delay(10, cancellationToken);
            }
            var writableAt = System.Diagnostics.Stopwatch.GetTimestamp();
            LogMessages.Promoted(_logger, Ms(started, writableAt), Ms(started, slotsDone), Ms(slotsDone, syncNamesDone), Ms(syncNamesDone, writableAt));
            await CreateMissingSlotsAsync(connection, slots, cancellationToken);
        }
        Role = ServerRole.Primary;
        _upstream = null;
        var (changed, _) = await WriteServerFilesAsync(ServerRole.Primary, cancellationToken);
        if (changed.Count > 0)
        {
            await ReloadAsync(cancellationToken);
        }
    }

    private static long Ms(long from, long to) => (long)System.Diagnostics.Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    /// <summary>
    /// A standby whose upstream is gone (the old primary of a switchover) that notices the promotion while waiting for
    /// streamed WAL first sleeps out the rest of wal_retrieve_retry_interval, unwoken, before it ends recovery: up to
    /// 250 ms of outage. Another promote signal wakes that sleep; once recovery has ended it is refused, harmlessly.
    /// </summary>
    private static async Task SignalPromotionAgainAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            await using var promote = new NpgsqlCommand("SELECT pg_promote(false) WHERE pg_is_in_recovery()", connection);
            await promote.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectNotInPrerequisiteState)
        {
            // Recovery ended between the check and the call: the promotion is done.
        }
    }

    private static async Task CreateMissingSlotsAsync(NpgsqlConnection connection, IReadOnlyCollection<string> slots, CancellationToken cancellationToken)
    {
        if (slots.Count == 0)
        {
            return;
        }
        await using var createSlots = new NpgsqlCommand(CreateMissingSlotsSql, connection)
        {
            Parameters = { new() { Value = slots.ToArray() }, new() { Value = true } },
        };
        await createSlots.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// A standby runs without synchronous_standby_names; the primary's set must be in force before the first commit
    /// after the promotion, or that commit is acknowledged before any synchronous standby has it. The standby's
    /// upstream stays as it is until the promotion is done, so it keeps receiving WAL meanwhile.
    /// </summary>
    private async Task ApplySynchronousStandbyNamesBeforePromotionAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var wanted = _configuration.SynchronousStandbyNames;
        var (changed, _) = await WriteServerFilesAsync(ServerRole.Primary, cancellationToken, touchSignalFiles: false);
        if (changed.Count == 0)
        {
            return;
        }
        await using (var reload = new NpgsqlCommand("SELECT pg_reload_conf()", connection))
        {
            await reload.ExecuteScalarAsync(cancellationToken);
        }
        // A backend re-reads the files at its next command once the postmaster has passed the signal on (to the
        // checkpointer too, which publishes whether commits wait); a bounded wait for this one to show the set.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            await using var show = new NpgsqlCommand("SELECT current_setting('synchronous_standby_names')", connection);
            if ((string?)await show.ExecuteScalarAsync(cancellationToken) == wanted)
            {
                return;
            }
            await Task.Delay(2, cancellationToken);
        }
    }

    /// <summary>
    /// After a reload that changed synchronous_standby_names on a primary: once the walsenders have taken the new set
    /// (their <c>sync_priority</c> agrees with it, at most 500 ms), commits one transaction of its own without waiting
    /// for any standby. PostgreSQL releases commits waiting for synchronous standbys only when it processes a reply from
    /// one, and a standby with nothing new to flush replies only every <c>wal_receiver_status_interval</c> (10 s by
    /// default): commits that began waiting under a set naming no streaming standby stayed stuck that long after the
    /// set named one. The new commit record makes every streaming standby reply at once.
    /// </summary>
    public async Task ReleaseSynchronousWaitersAsync(CancellationToken cancellationToken)
    {
        RequireRunning();
        var names = SynchronousStandbyNameList(_configuration.SynchronousStandbyNames);
        await using var connection = await OpenLocalAsync(cancellationToken);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMilliseconds(500))
        {
            await using var disagreeing = new NpgsqlCommand(
                "SELECT count(*) FROM pg_stat_replication WHERE (sync_priority > 0) <> (application_name = ANY($1))", connection)
            {
                Parameters = { new() { Value = names.ToArray() } },
            };
            if ((long)(await disagreeing.ExecuteScalarAsync(cancellationToken))! == 0)
            {
                break;
            }

            await Task.Delay(5, cancellationToken);
        }

        await using var nudge = new NpgsqlCommand(
            "BEGIN; SET LOCAL synchronous_commit = local; SELECT pg_current_xact_id(); COMMIT;", connection);
        await nudge.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The standby names of a synchronous_standby_names value (<c>ANY 1 ("a", b)</c> → a, b); empty for ''.</summary>
    private static IReadOnlyList<string> SynchronousStandbyNameList(string value)
    {
        var open = value.IndexOf('(', StringComparison.Ordinal);
        var close = value.LastIndexOf(')');
        var list = open >= 0 && close > open ? value[(open + 1)..close] : value;
        return list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => name.Trim('"'))
            .Where(name => name.Length > 0)
            .ToList();
    }

    /// <summary>Writes a checkpoint now (CHECKPOINT), e.g. so pg_control shows a promotion's new timeline.</summary>
    public async Task CheckpointAsync(CancellationToken cancellationToken)
    {
        RequireRunning();
        await ExecuteLocalAsync("CHECKPOINT", cancellationToken);
    }

    /// <summary>
    /// Points a standby at another upstream (primary_conninfo, slot). A running standby reloads (these
    /// settings are reloadable from PostgreSQL 13) and restarts only if the server still asks for it; a
    /// stopped one uses it at its next start. Refused on a running primary: demote it instead.
    /// </summary>
    public async Task FollowAsync(UpstreamServer upstream, CancellationToken cancellationToken)
    {
        if (IsRunning && Role == ServerRole.Primary)
        {
            throw new PgControlException(PgControlError.InvalidArgument, "This server runs as primary; demote it (DemoteAsync) to follow another server.");
        }
        LogMessages.Following(_logger, upstream.ToString());
        _upstream = upstream;
        if (!IsInitialized)
        {
            return;
        }
        var (changed, _) = await WriteServerFilesAsync(ServerRole.Standby, cancellationToken, touchSignalFiles: IsRunning);
        if (!IsRunning || changed.Count == 0)
        {
            return;
        }
        var binaries = await GetBinariesAsync(cancellationToken);
        var restart = binaries.MajorVersion < 13 || (await QueryRestartRequiredAsync(changed, cancellationToken)).Count > 0;
        if (restart)
        {
            await StopAsync(StopMode.Fast, cancellationToken);
            await StartAsync(ServerRole.Standby, cancellationToken: cancellationToken);
        }
        else
        {
            await ReloadAsync(cancellationToken);
        }
    }

    /// <summary>Stops the server (in <paramref name="mode"/>) and starts it as a standby of <paramref name="upstream"/>.</summary>
    public async Task DemoteAsync(UpstreamServer? upstream, StopMode mode, CancellationToken cancellationToken)
    {
        await StopAsync(mode, cancellationToken);
        _upstream = upstream;
        await StartAsync(ServerRole.Standby, cancellationToken: cancellationToken);
    }

    private static string ConnInfoFor(string host, int port, string user, string applicationName, string? database = null)
    {
        var values = new List<KeyValuePair<string, string>>
        {
            new("host", host),
            new("port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("user", user),
            new("application_name", applicationName),
            new("connect_timeout", "5"),
        };
        if (database is not null)
        {
            values.Add(new("dbname", database));
        }
        return ConfigRenderer.ConnInfo(values);
    }

    private IReadOnlyDictionary<string, string> ToolEnvironment() =>
        new Dictionary<string, string> { ["PGPASSFILE"] = _options.PassFileFull };
}

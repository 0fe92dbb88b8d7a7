using System.Collections.Frozen;
using System.Net.Sockets;

namespace PgRaft.Node.Hosting;

/// <summary>Under a systemd <c>Type=notify</c> unit: readiness, a role line for <c>systemctl status</c>, and the watchdog.</summary>
internal sealed partial class NodeRuntime
{
    /// <summary>Every loop round has its own timeouts of a few seconds at most; a round this long is a hang.</summary>
    internal static readonly TimeSpan LoopStallLimit = TimeSpan.FromSeconds(15);

    // The status line is sent only when it changes, so checking every second costs nothing and keeps `systemctl status` current.
    private static readonly TimeSpan SystemdStatusInterval = TimeSpan.FromSeconds(1);

    /// <summary>Loops whose rounds may rightly take minutes: the keeper, while it clones a standby with pg_basebackup.</summary>
    private static readonly FrozenSet<string> LongRoundLoops = FrozenSet.Create(StringComparer.Ordinal, "keeper");

    private readonly LoopLiveness _liveness = new();
    private readonly SystemdNotifier? _systemd = SystemdNotifier.FromProcessEnvironment();
    private string? _lastSystemdStatus;
    private string? _reportedStall;

    private TimeSpan SystemdInterval() =>
        _systemd?.WatchdogInterval is { } watchdog && watchdog < SystemdStatusInterval ? watchdog : SystemdStatusInterval;

    private async Task NotifyReadyAsync(CancellationToken cancellationToken)
    {
        if (_systemd is null)
        {
            return;
        }

        try
        {
            _lastSystemdStatus = SystemdStatus();
            await _systemd.ReadyAsync(_lastSystemdStatus, cancellationToken);
            LogMessages.SystemdReady(_logger, _systemd.WatchdogTimeout is { } timeout ? Seconds(timeout) : "off");
        }
        catch (SocketException ex)
        {
            // systemd will time the start out; the node itself is fine, so it keeps running until then.
            LogMessages.SystemdUnreachable(_logger, "READY=1", ex.Message);
        }
    }

    /// <summary>Feeds the watchdog only while every loop makes progress, and updates the status line when it changes.</summary>
    private async Task NotifySystemdOnceAsync(CancellationToken cancellationToken)
    {
        var systemd = _systemd!;
        var status = SystemdStatus();
        if (_liveness.FindStalled(_clock.Now, LoopStallLimit, LongRoundLoops) is { } stall)
        {
            if (_reportedStall != stall.Loop)
            {
                LogMessages.WatchdogWithheld(_logger, stall.Loop, Seconds(stall.Silence));
                _reportedStall = stall.Loop;
            }

            status = $"loop {stall.Loop} stalled for {Seconds(stall.Silence)}; watchdog not fed";
        }
        else
        {
            _reportedStall = null;
            if (systemd.WatchdogTimeout is not null)
            {
                await systemd.WatchdogAsync(cancellationToken);
            }
        }

        if (status != _lastSystemdStatus)
        {
            await systemd.StatusAsync(status, cancellationToken);
            _lastSystemdStatus = status;
        }
    }

    private async Task NotifyStoppingAsync()
    {
        if (_systemd is null)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await _systemd.StoppingAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            LogMessages.SystemdUnreachable(_logger, "STOPPING=1", ex.Message);
        }
    }

    /// <summary>e.g. "primary; cluster primary node1, generation 3; raft Follower, term 4, leader node2". No secrets.</summary>
    private string SystemdStatus()
    {
        var health = Health();
        var view = _stateMachine.Current.View;
        var soft = _raft.SoftState;
        var local = health.State == "running" ? health.Role.ToString().ToLowerInvariant() : "postgres " + health.State;
        return $"{local}; cluster primary {view.Primary ?? "none"}, generation {view.Generation}; raft {soft.Role}, term {soft.Term}, leader {soft.Leader ?? "none"}";
    }
}

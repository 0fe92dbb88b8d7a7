using System.Globalization;
using System.Text;
using PgRaft.Node.Cluster;
using PgRaft.Node.Keeper;
using PgRaft.Node.Sentinel;
using PgRaft.Proxy.Metrics;

namespace PgRaft.Node.Api;

/// <summary>One proxy port's counters, named for the <c>port</c> label.</summary>
internal sealed record ProxyPortCounters(string Port, ProxyCounters Counters);

/// <summary>Everything <c>GET /metrics</c> reports about this node, read at one moment.</summary>
internal sealed record NodeMetrics(
    string NodeId,
    long RaftTerm,
    string? RaftLeader,
    long RaftCommitIndex,
    long RaftAppliedIndex,
    ClusterState State,
    LocalHealth Health,
    LocalPostgres Local,
    ClusterNodes Nodes,
    IReadOnlyList<ProxyPortCounters> Proxies);

/// <summary>
/// The Prometheus text exposition format (version 0.0.4), written by hand: prometheus-net is not available here, and
/// the format is small. Every series carries the <c>node</c> label, so one scrape config covers the cluster.
/// </summary>
internal static class MetricsWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Write(NodeMetrics m)
    {
        var text = new Exposition(m.NodeId);
        var state = m.State;
        text.Gauge("pgraft_raft_term", "Current Raft term as this node knows it.", m.RaftTerm);
        text.Gauge("pgraft_raft_leader", "1 when this node leads Raft (and runs the sentinel).", m.RaftLeader == m.NodeId ? 1 : 0);
        text.Gauge("pgraft_raft_leader_known", "1 when this node knows a Raft leader.", m.RaftLeader is null ? 0 : 1);
        text.Gauge("pgraft_raft_commit_index", "Highest Raft log index known committed.", m.RaftCommitIndex);
        text.Gauge("pgraft_raft_applied_index", "Highest Raft log index applied to the cluster state.", m.RaftAppliedIndex);
        text.Gauge("pgraft_view_generation", "Generation of the applied view (rises with every change of primary or sync set).", state.View.Generation);
        text.Gauge("pgraft_cluster_paused", "1 while the cluster is paused (no automatic failover).", state.Spec.Paused ? 1 : 0);
        text.Gauge("pgraft_cluster_members", "Members of the cluster.", state.Members.Count);
        text.Gauge("pgraft_sync_standbys", "Standbys in the committed synchronous set.", state.View.Sync.Standbys.Count);
        text.Gauge("pgraft_view_primary", "1 when the applied view names this node primary.", m.Health.IsViewPrimary ? 1 : 0);
        text.Gauge("pgraft_lease_held", "1 while this node holds the primary lease.", m.Health.HoldsLease ? 1 : 0);
        text.Gauge("pgraft_postgres_running", "1 while this node's PostgreSQL runs.", m.Local.Running ? 1 : 0);
        text.Family("pgraft_postgres_role", "gauge", "This node's PostgreSQL role (1 for the current one).");
        foreach (var role in Enum.GetValues<PgRole>())
        {
            text.Sample("pgraft_postgres_role", m.Local.Role == role ? 1 : 0, ("role", role.ToString().ToLowerInvariant()));
        }

        text.Gauge("pgraft_postgres_timeline", "Timeline of this node's PostgreSQL.", m.Local.Timeline);
        text.Gauge("pgraft_postgres_wal_position_bytes", "WAL position of this node's PostgreSQL: flush on a primary, received or replayed on a standby.", (double)(m.Local.Position?.Value ?? 0));
        text.Gauge("pgraft_postgres_pending_restart", "1 when changed parameters wait for a restart of this node's PostgreSQL.", m.Local.PendingRestart.Length > 0 ? 1 : 0);
        text.Family("pgraft_changes_of_primary_total", "counter", "Changes of primary recorded in the history, by reason.");
        foreach (var reason in Enum.GetValues<ChangeReason>())
        {
            text.Sample("pgraft_changes_of_primary_total", state.History.Count(h => h.Reason == reason), ("reason", reason.Text()));
        }

        text.Family("pgraft_member_healthy", "gauge", "Each member's health as the Raft leader last reported it (1 running and healthy).");
        foreach (var node in m.Nodes.Nodes)
        {
            text.Sample("pgraft_member_healthy", node.Running && node.Healthy ? 1 : 0, ("member", node.NodeId));
        }

        text.Family("pgraft_member_replication_lag_bytes", "gauge", "Each standby's WAL lag behind the primary, as the Raft leader last reported it.");
        foreach (var node in m.Nodes.Nodes.Where(n => n.Role == PgRole.Standby && n.LagBytes is >= 0 and < long.MaxValue))
        {
            text.Sample("pgraft_member_replication_lag_bytes", node.LagBytes, ("member", node.NodeId));
        }

        if (m.Nodes.Sentinel is { } sentinel)
        {
            text.Family("pgraft_sentinel_status", "gauge", "The Raft leader's sentinel status (1 for the current one); its reason is in /cluster/nodes.");
            text.Sample("pgraft_sentinel_status", 1, ("status", sentinel.Status), ("leader", sentinel.Leader));
        }

        ProxyFamily(text, m.Proxies, "pgraft_proxy_connections_active", "gauge", "Client connections being forwarded now.", c => c.Active);
        ProxyFamily(text, m.Proxies, "pgraft_proxy_connections_total", "counter", "Client connections forwarded since start.", c => c.Total);
        ProxyFamily(text, m.Proxies, "pgraft_proxy_refused_total", "counter", "Clients refused at the connection limit.", c => c.Refused);
        ProxyFamily(text, m.Proxies, "pgraft_proxy_held_total", "counter", "Clients that waited for a target (a failover in progress).", c => c.Held);
        ProxyFamily(text, m.Proxies, "pgraft_proxy_hold_timeouts_total", "counter", "Held clients closed because no target appeared within proxyHoldTimeout.", c => c.HoldTimeouts);
        ProxyFamily(text, m.Proxies, "pgraft_proxy_connect_failures_total", "counter", "Backend connects that failed.", c => c.ConnectFailures);
        ProxyFamily(text, m.Proxies, "pgraft_proxy_cut_total", "counter", "Connections closed because their target stopped being valid.", c => c.Cut);
        text.Family("pgraft_proxy_bytes_total", "counter", "Bytes forwarded, by direction.");
        foreach (var proxy in m.Proxies)
        {
            text.Sample("pgraft_proxy_bytes_total", proxy.Counters.BytesToServer, ("port", proxy.Port), ("direction", "to_server"));
            text.Sample("pgraft_proxy_bytes_total", proxy.Counters.BytesToClient, ("port", proxy.Port), ("direction", "to_client"));
        }

        return text.ToString();
    }

    private static void ProxyFamily(Exposition text, IReadOnlyList<ProxyPortCounters> proxies, string name, string type, string help, Func<ProxyCounters, long> value)
    {
        text.Family(name, type, help);
        foreach (var proxy in proxies)
        {
            text.Sample(name, value(proxy.Counters), ("port", proxy.Port));
        }
    }

    /// <summary>Label values escaped as the format requires (backslash, double quote, newline).</summary>
    internal static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private sealed class Exposition(string nodeId)
    {
        private readonly StringBuilder _text = new();
        private readonly string _node = $"node=\"{Escape(nodeId)}\"";

        public void Gauge(string name, string help, double value)
        {
            Family(name, "gauge", help);
            Sample(name, value);
        }

        public void Family(string name, string type, string help) =>
            _text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
                .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

        public void Sample(string name, double value, params (string Name, string Value)[] labels)
        {
            _text.Append(name).Append('{').Append(_node);
            foreach (var (label, text) in labels)
            {
                _text.Append(',').Append(label).Append("=\"").Append(Escape(text)).Append('"');
            }

            _text.Append("} ").Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }

        public override string ToString() => _text.ToString();
    }
}

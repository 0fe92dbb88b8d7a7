namespace PgRaft.Node.Cluster;

/// <summary>Which node initialised the cluster's data, the system identifier it got, and whether the post-bootstrap script ran.</summary>
internal sealed record BootstrapRecord(string NodeId, ulong SystemIdentifier, bool PostBootstrapScriptDone);

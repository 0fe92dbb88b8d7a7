using System.Text.Json;
using System.Text.Json.Serialization;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Cluster;

/// <summary>Source-generated JSON for commands, snapshots and keeper reports (trimming-safe).</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    UseStringEnumConverter = true,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    AllowOutOfOrderMetadataProperties = true)]
[JsonSerializable(typeof(ClusterCommand))]
[JsonSerializable(typeof(ClusterSnapshot))]
[JsonSerializable(typeof(SnapshotHeader))]
[JsonSerializable(typeof(ClusterState))]
[JsonSerializable(typeof(KeeperReport))]
internal sealed partial class ClusterJsonContext : JsonSerializerContext;

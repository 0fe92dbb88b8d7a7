using System.Text.Json;

namespace PgRaft.Node.Cluster;

/// <summary>The snapshot format: a versioned JSON envelope.</summary>
internal sealed record ClusterSnapshot(int Version, long AppliedIndex, ClusterState State)
{
    public const int CurrentVersion = 1;

    public static byte[] Encode(long appliedIndex, ClusterState state) =>
        JsonSerializer.SerializeToUtf8Bytes(new ClusterSnapshot(CurrentVersion, appliedIndex, state), ClusterJsonContext.Default.ClusterSnapshot);

    /// <summary>Decodes a snapshot; throws <see cref="InvalidDataException"/> naming the problem.</summary>
    public static ClusterSnapshot Decode(ReadOnlySpan<byte> bytes)
    {
        SnapshotHeader? header;
        try
        {
            header = JsonSerializer.Deserialize(bytes, ClusterJsonContext.Default.SnapshotHeader);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"the cluster state snapshot is not valid JSON ({e.Message}); the snapshot file is damaged", e);
        }

        if (header is null || header.Version < 1)
        {
            throw new InvalidDataException("the cluster state snapshot has no format version; the snapshot file is damaged or not a pgraft snapshot");
        }

        if (header.Version > CurrentVersion)
        {
            throw new InvalidDataException(
                $"the cluster state snapshot has format version {header.Version}, but this pgraft understands only up to version {CurrentVersion}; upgrade pgraft on this node");
        }

        ClusterSnapshot? snapshot;
        try
        {
            snapshot = JsonSerializer.Deserialize(bytes, ClusterJsonContext.Default.ClusterSnapshot);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"the cluster state snapshot (version {header.Version}) does not decode: {e.Message}", e);
        }

        return snapshot ?? throw new InvalidDataException("the cluster state snapshot is empty (JSON null)");
    }
}

/// <summary>Read first, so a snapshot from a newer pgraft is refused by version rather than by a confusing decode error.</summary>
internal sealed record SnapshotHeader(int Version);

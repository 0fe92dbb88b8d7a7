using System.Globalization;
using PgRaft.PgControl.Wal;

namespace PgRaft.PgControl.Instance;

/// <summary>The fields of pg_controldata that PgControl uses.</summary>
internal sealed record ControlData(
    ulong SystemIdentifier,
    string ClusterState,
    int CheckpointTimeline,
    Lsn CheckpointLocation,
    Lsn MinimumRecoveryEnd,
    bool DataChecksums,
    bool WalLogHints)
{
    public bool CleanlyShutDown => ClusterState is "shut down" or "shut down in recovery";

    /// <summary>The best local estimate of where WAL ends (exclusive): past the last checkpoint record and the minimum recovery point.</summary>
    public Lsn WalEndEstimate => Lsn.Max(new Lsn(CheckpointLocation.Value + 1), MinimumRecoveryEnd);

    public static ControlData Parse(string output)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                fields[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }
        string Field(string name) => fields.TryGetValue(name, out var value)
            ? value
            : throw new FormatException($"pg_controldata output lacks '{name}'.");
        return new ControlData(
            ulong.Parse(Field("Database system identifier"), CultureInfo.InvariantCulture),
            Field("Database cluster state"),
            int.Parse(Field("Latest checkpoint's TimeLineID"), CultureInfo.InvariantCulture),
            Lsn.Parse(Field("Latest checkpoint location")),
            Lsn.Parse(Field("Minimum recovery ending location")),
            Field("Data page checksum version") != "0",
            Field("wal_log_hints setting") == "on");
    }
}

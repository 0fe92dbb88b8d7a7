using System.Globalization;
using System.Text;

namespace PgRaft.JepsenStyle.Checking;

/// <summary>
/// The run's raw observations as CSV beside the node logs (operations.csv, primary-samples.csv), for reading a kept
/// run (PGRAFT_KEEP_TEST_DATA) after the fact. Times are seconds on the run's clock, as in run.log.
/// </summary>
internal static class RunFiles
{
    public static async Task WriteAsync(string folder, RunObservations run, CancellationToken cancellationToken)
    {
        var operations = new StringBuilder("client,seq,start,end,outcome,acked_by,error\n");
        foreach (var o in run.Operations)
        {
            operations.AppendLine(CultureInfo.InvariantCulture,
                $"{o.Key.Client},{o.Key.Seq},{o.Start.TotalSeconds:F3},{o.End.TotalSeconds:F3},{o.Outcome},{o.AckedBy},\"{o.Error?.Replace('"', '\'')}\"");
        }

        var samples = new StringBuilder("at,primaries\n");
        foreach (var s in run.Samples)
        {
            samples.AppendLine(CultureInfo.InvariantCulture, $"{s.At.TotalSeconds:F3},{string.Join(' ', s.Primaries)}");
        }

        await File.WriteAllTextAsync(Path.Combine(folder, "operations.csv"), operations.ToString(), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(folder, "primary-samples.csv"), samples.ToString(), cancellationToken);
    }
}

using System.Globalization;
using System.Text;
using PgRaft.JepsenStyle.Workload;

namespace PgRaft.JepsenStyle.Checking;

/// <summary>What one fault cost, measured from the run's operations.</summary>
internal sealed record FaultCost(FaultRecord Fault, TimeSpan Outage, TimeSpan? Recovery, TimeSpan? Fence, int Acked, int Lost, int Unknown);

/// <summary>The per-fault table printed at the end of a run.</summary>
internal static class FaultSummary
{
    public static IReadOnlyList<FaultCost> Costs(RunObservations run)
    {
        var present = run.Final.RowsByNode[run.Final.Primary].ToHashSet();
        var ackTimes = run.Acknowledged.Select(o => o.End).Order().ToList();
        return run.Faults.Select(fault =>
        {
            var window = run.Operations.Where(o => o.End > fault.Injected && o.End <= fault.WindowEnd).ToList();
            var acked = window.Where(o => o.Outcome == Outcome.Ok).ToList();
            var fence = fault.FenceExpected && run.FirstProbeFailure(fault) is { } failure ? failure.End - fault.Injected : (TimeSpan?)null;
            return new FaultCost(
                fault,
                LongestGap(ackTimes, fault.Injected, fault.WindowEnd),
                fault.Recovered - fault.Healed,
                fence,
                acked.Count,
                acked.Count(o => !present.Contains(o.Key)),
                window.Count(o => o.Outcome == Outcome.Unknown));
        }).ToList();
    }

    /// <summary>
    /// The longest time without any acknowledged write, from the last acknowledgement before the fault to the end of
    /// its window (the cluster's write outage as all clients together saw it).
    /// </summary>
    public static TimeSpan LongestGap(IReadOnlyList<TimeSpan> sortedAcks, TimeSpan from, TimeSpan to)
    {
        var previous = sortedAcks.LastOrDefault(t => t <= from, from);
        var longest = TimeSpan.Zero;
        foreach (var ack in sortedAcks.Where(t => t > from && t <= to))
        {
            longest = ack - previous > longest ? ack - previous : longest;
            previous = ack;
        }

        return to - previous > longest ? to - previous : longest;
    }

    public static string Table(IReadOnlyList<FaultCost> costs)
    {
        var text = new StringBuilder();
        text.AppendLine("  # fault                                              outage s  back after heal s  fenced s  acked  lost  unknown");
        foreach (var cost in costs)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{cost.Fault.Number,3} {Truncate(cost.Fault.Plan.ToString(), 50),-50} {cost.Outage.TotalSeconds,8:F2}  {Format(cost.Recovery),17}  {Format(cost.Fence),8}  {cost.Acked,5}  {cost.Lost,4}  {cost.Unknown,7}");
            text.AppendLine(CultureInfo.InvariantCulture, $"      {cost.Fault.Description}");
        }

        return text.ToString();
    }

    private static string Format(TimeSpan? time) => time is { } t ? t.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture) : "-";

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";
}

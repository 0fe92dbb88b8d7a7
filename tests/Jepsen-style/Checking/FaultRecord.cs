using PgRaft.JepsenStyle.Faults;

namespace PgRaft.JepsenStyle.Checking;

/// <summary>
/// One fault as it happened, on the run's clock. <see cref="Recovered"/> is when every workload client had written
/// again after the heal (null when one never did within the wait). <see cref="ProbeClient"/> is the client that wrote
/// straight to the primary's PostgreSQL during the fault; <see cref="FenceExpected"/> says whether that PostgreSQL had
/// to stop taking its writes.
/// </summary>
internal sealed record FaultRecord(
    int Number,
    FaultPlan Plan,
    string Description,
    int OldPrimary,
    TimeSpan Injected,
    TimeSpan Healed,
    TimeSpan? Recovered,
    int ProbeClient,
    bool FenceExpected)
{
    /// <summary>The end of the window this fault is judged on.</summary>
    public TimeSpan WindowEnd => Recovered ?? Healed;
}

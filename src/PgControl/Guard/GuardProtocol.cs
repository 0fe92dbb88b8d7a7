using System.Globalization;

namespace PgRaft.PgControl.Guard;

/// <summary>
/// The line protocol between the caller and the guard.
/// Caller → guard (stdin): <c>open</c> (run with no deadline), <c>lease &lt;ms&gt;</c> (deadline = now + ms on the
/// guard's monotonic clock), <c>fence</c> (stop now). The postmaster is launched on the first open or lease;
/// end of input fences at once.
/// Guard → caller (stdout): <c>started &lt;pid&gt;</c>, <c>fencing &lt;reason&gt;</c>, <c>exited &lt;code&gt;</c>.
/// </summary>
internal static class GuardProtocol
{
    public const string Open = "open";
    public const string Lease = "lease";
    public const string Fence = "fence";
    public const string Started = "started";
    public const string Fencing = "fencing";
    public const string Exited = "exited";

    public const string ReasonDeadline = "deadline";
    public const string ReasonPipeClosed = "pipe-closed";
    public const string ReasonCommand = "command";
    public const string ReasonSignal = "signal";

    public static string LeaseLine(TimeSpan remaining) =>
        string.Create(CultureInfo.InvariantCulture, $"{Lease} {Math.Max(0L, (long)remaining.TotalMilliseconds)}");

    public static (string Verb, string? Argument) Split(string line)
    {
        var trimmed = line.Trim();
        var space = trimmed.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (trimmed, null) : (trimmed[..space], trimmed[(space + 1)..].Trim());
    }
}

using System.Globalization;

namespace PgRaft.PgControl.Guard;

/// <summary>
/// The line protocol between the caller and the guard.
/// Caller → guard (stdin): <c>open</c> (run with no deadline), <c>lease &lt;ms&gt; [&lt;sent&gt;]</c> (deadline = now + ms on
/// the guard's monotonic clock; when the optional <c>sent</c> Stopwatch timestamp of the sender is plausible on the
/// guard's clock, which it is on Linux where both read CLOCK_MONOTONIC, the earlier sent + ms is used, so time
/// the line spent in the pipe, or the guard spent starting, never extends the lease), <c>fence</c> (stop now). The postmaster is launched on the first open or lease;
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
        string.Create(CultureInfo.InvariantCulture, $"{Lease} {Math.Max(0L, (long)remaining.TotalMilliseconds)} {System.Diagnostics.Stopwatch.GetTimestamp()}");

    /// <summary>The deadline (a Stopwatch timestamp) a lease line sets when read at <paramref name="now"/>.</summary>
    public static long? LeaseDeadline(string? argument, long now)
    {
        var parts = (argument ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
        {
            return null;
        }
        var length = (long)(ms * (System.Diagnostics.Stopwatch.Frequency / 1000.0));
        var deadline = now + length;
        if (parts.Length == 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var sent)
            && sent <= now && now - sent < 10 * System.Diagnostics.Stopwatch.Frequency)
        {
            deadline = Math.Min(deadline, sent + length);
        }
        return deadline;
    }

    public static (string Verb, string? Argument) Split(string line)
    {
        var trimmed = line.Trim();
        var space = trimmed.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (trimmed, null) : (trimmed[..space], trimmed[(space + 1)..].Trim());
    }
}

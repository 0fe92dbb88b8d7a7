using System.Globalization;

namespace PgRaft.Node.Sentinel;

/// <summary>Human-readable figures for decision reasons.</summary>
internal static class Describe
{
    public static string Seconds(TimeSpan span) =>
        span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    public static string Bytes(ulong bytes) =>
        bytes switch
        {
            < 1024 => bytes.ToString(CultureInfo.InvariantCulture) + " bytes",
            < 1024 * 1024 => (bytes / 1024.0).ToString("0.#", CultureInfo.InvariantCulture) + " kB",
            _ => (bytes / (1024.0 * 1024.0)).ToString("0.#", CultureInfo.InvariantCulture) + " MB",
        };

    public static string Bytes(long bytes) => Bytes((ulong)Math.Max(0, bytes));
}

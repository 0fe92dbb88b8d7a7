namespace PgRaft.Node.Api;

/// <summary>The read-only status page at <c>/dashboard</c>: one self-contained HTML file (no external scripts) that polls the JSON endpoints.</summary>
internal static class Dashboard
{
    public static ReadOnlyMemory<byte> Page { get; } = Load();

    private static byte[] Load()
    {
        using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream("PgRaft.Node.Api.dashboard.html")
            ?? throw new InvalidOperationException("the dashboard page is missing from the pgraft assembly");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}

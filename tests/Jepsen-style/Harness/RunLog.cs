using System.Diagnostics;
using System.Globalization;

namespace PgRaft.JepsenStyle.Harness;

/// <summary>
/// The run's own timeline: every line carries the wall clock (as the nodes' logs do, to line them up) and the seconds
/// since the run began. Lines go to the console (which <c>dotnet test</c> shows for passing tests too, unlike xunit's
/// test output) and, once the data folder exists, to <c>run.log</c> in it.
/// </summary>
internal sealed class RunLog : IDisposable
{
    private readonly Lock _lock = new();
    private readonly long _start = Stopwatch.GetTimestamp();
    private StreamWriter? _file;

    /// <summary>Time since the run began, on the monotonic clock that every recorded operation uses too.</summary>
    public TimeSpan Now => Stopwatch.GetElapsedTime(_start);

    public void WriteTo(string path)
    {
        lock (_lock)
        {
            _file = new StreamWriter(path, append: true) { AutoFlush = true };
        }
    }

    public void Line(string message)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{DateTime.Now:yyyy-MM-dd HH:mm:ss.fff} +{Now.TotalSeconds,7:F2}s {message}");
        lock (_lock)
        {
            _file?.WriteLine(line);
            Console.WriteLine(line);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _file?.Dispose();
            _file = null;
        }
    }
}

using System.Runtime.InteropServices;

namespace PgRaft.Proxy.Forwarding;

internal sealed partial class EpollLoop
{
    private const int PrioProcess = 0;
    private const int CpuMaskBytes = 128;

    /// <summary>
    /// Loop thread, at start: CPU affinity and nice value from the settings. Each is best effort: a
    /// container without the capability (negative nice) or a restricted CPU set leaves the thread as it was.
    /// </summary>
    private unsafe void ApplyThreadSettings()
    {
        Volatile.Write(ref _nativeThreadId, gettid());
        if (_settings.PinThreads)
        {
            var mask = stackalloc byte[CpuMaskBytes];
            new Span<byte>(mask, CpuMaskBytes).Clear();
            if (sched_getaffinity(0, CpuMaskBytes, mask) == 0 && ChooseCpu(new Span<byte>(mask, CpuMaskBytes), _index) is var cpu and >= 0)
            {
                new Span<byte>(mask, CpuMaskBytes).Clear();
                mask[cpu / 8] = (byte)(1 << (cpu % 8));
                _ = sched_setaffinity(0, CpuMaskBytes, mask);
            }
        }

        if (_settings.ThreadNice != 0)
        {
            _ = setpriority(PrioProcess, (uint)_nativeThreadId, _settings.ThreadNice);
        }
    }

    /// <summary>The <paramref name="index"/>-th allowed CPU of <paramref name="mask"/> (wrapping around), or -1 when none is.</summary>
    internal static int ChooseCpu(ReadOnlySpan<byte> mask, int index)
    {
        var allowed = new List<int>();
        for (var cpu = 0; cpu < mask.Length * 8; cpu++)
        {
            if ((mask[cpu / 8] & (1 << (cpu % 8))) != 0)
            {
                allowed.Add(cpu);
            }
        }

        return allowed.Count == 0 ? -1 : allowed[index % allowed.Count];
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int sched_getaffinity(int pid, nuint size, byte* mask);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int sched_setaffinity(int pid, nuint size, byte* mask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, uint who, int priority);

    [LibraryImport("libc")]
    private static partial int gettid();
}

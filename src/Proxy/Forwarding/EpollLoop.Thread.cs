using System.Runtime.InteropServices;

namespace PgRaft.Proxy.Forwarding;

internal sealed partial class EpollLoop
{
    private const int PrioProcess = 0;
    private const int CpuMaskBytes = 128;

    private byte[]? _allowedCpus;
    private int _pinCpu = -1;
    private bool _pinned;

    /// <summary>
    /// Loop thread, at start: the nice value, and which CPU to pin to. Each is best effort: a container
    /// without the capability (negative nice) or a restricted CPU set leaves the thread as it was.
    /// </summary>
    private unsafe void ApplyThreadSettings()
    {
        Volatile.Write(ref _nativeThreadId, gettid());
        if (_settings.PinThreads)
        {
            var mask = new byte[CpuMaskBytes];
            fixed (byte* allowed = mask)
            {
                if (sched_getaffinity(0, CpuMaskBytes, allowed) == 0)
                {
                    _allowedCpus = mask;
                    _pinCpu = ChooseCpu(mask, _index);
                }
            }
        }

        if (_settings.ThreadNice != 0)
        {
            _ = setpriority(PrioProcess, (uint)_nativeThreadId, _settings.ThreadNice);
        }
    }

    /// <summary>
    /// Pins the thread to its CPU while it serves at least PinMinConnections connections, and lets it
    /// move again below that. Measured on 2 cores: with many connections pinning keeps each loop on its
    /// own CPU (no migrations, better throughput); with one client a free thread can run where its peer
    /// just woke it, where a pinned one takes a cross-CPU wake-up per packet.
    /// </summary>
    private unsafe void UpdatePinning()
    {
        var pin = !_pinned;
        var mask = stackalloc byte[CpuMaskBytes];
        var span = new Span<byte>(mask, CpuMaskBytes);
        if (pin)
        {
            span.Clear();
            mask[_pinCpu / 8] = (byte)(1 << (_pinCpu % 8));
        }
        else
        {
            _allowedCpus.AsSpan().CopyTo(span);
        }

        // Whatever the outcome, do not retry on every turn of the loop.
        _pinned = pin;
        _ = sched_setaffinity(0, CpuMaskBytes, mask);
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

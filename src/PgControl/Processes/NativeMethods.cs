using System.Runtime.InteropServices;

namespace PgRaft.PgControl.Processes;

internal static partial class NativeMethods
{
    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserIdNative();

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChownNative(string path, uint owner, uint group);

    /// <summary>Sends a signal; false when the process does not exist (or is not ours to signal).</summary>
    public static bool Kill(int pid, int signal) => pid > 0 && KillNative(pid, signal) == 0;

    /// <summary>Signals a whole process group (the postmaster leads its own group).</summary>
    public static bool KillGroup(int processGroup, int signal) => processGroup > 0 && KillNative(-processGroup, signal) == 0;

    public static bool IsAlive(int pid) => pid > 0 && (KillNative(pid, 0) == 0 || Marshal.GetLastPInvokeError() == 1 /* EPERM: exists */);

    /// <summary>Alive and not a zombie: a killed child counts as gone before its parent reaps it.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X' or 'x');
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return IsAlive(pid);
        }
    }

    public static uint EffectiveUserId => GetEffectiveUserIdNative();

    public static void Chown(string path, uint uid, uint gid)
    {
        if (ChownNative(path, uid, gid) != 0)
        {
            throw new IOException($"chown {uid}:{gid} '{path}' failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }
}

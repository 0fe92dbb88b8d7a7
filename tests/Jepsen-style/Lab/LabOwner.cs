using System.Globalization;

namespace PgRaft.JepsenStyle.Lab;

/// <summary>
/// Who owns a lab: the process id and its start time (so a reused pid is not taken for the owner). Written before
/// anything of the lab exists, so a lab without a live owner is stale.
/// </summary>
internal static class LabOwner
{
    public static void Claim(LabNames names)
    {
        Directory.CreateDirectory(LabNames.OwnerDirectory);
        File.WriteAllText(names.OwnerFile, Describe(Environment.ProcessId));
    }

    public static void Release(LabNames names) => File.Delete(names.OwnerFile);

    public static bool IsAlive(string id)
    {
        var file = Path.Combine(LabNames.OwnerDirectory, id);
        if (!File.Exists(file))
        {
            return false;
        }

        var recorded = File.ReadAllText(file).Trim();
        var pid = int.Parse(recorded.Split(' ')[0], CultureInfo.InvariantCulture);
        return Describe(pid) == recorded;
    }

    /// <summary>"pid starttime" from /proc; "pid gone" when the process no longer exists.</summary>
    private static string Describe(int pid)
    {
        var id = pid.ToString(CultureInfo.InvariantCulture);
        try
        {
            // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
            var stat = File.ReadAllText($"/proc/{id}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return $"{id} {fields[19]}";
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return $"{id} gone";
        }
    }
}

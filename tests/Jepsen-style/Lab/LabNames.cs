using System.Globalization;

namespace PgRaft.JepsenStyle.Lab;

/// <summary>
/// The names one lab uses, all derived from its short random id so parallel runs never collide and a later run can
/// recognise (and remove) what a killed one left behind.
/// </summary>
internal sealed record LabNames(string Id)
{
    /// <summary>Every namespace of ours starts with this; the id follows, then '-'.</summary>
    public const string NamespacePrefix = "pgraft-jepsen-";

    /// <summary>Interface names are limited to 15 characters, so links use a shorter prefix.</summary>
    public const string LinkPrefix = "pgj";

    /// <summary>One small file per live lab naming the process that owns it.</summary>
    public const string OwnerDirectory = "/run/pgraft-jepsen";

    public string HubNamespace => $"{NamespacePrefix}{Id}-hub";

    public string NodeNamespace(int node) => $"{NamespacePrefix}{Id}-n{node.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The host's end of the veth pair that joins the test process to the lab's bridge.</summary>
    public string HostLink => $"{LinkPrefix}{Id}h";

    /// <summary>The hub's end of a node's veth pair (the node's end is called eth0 inside its namespace).</summary>
    public string HubLink(int node) => $"{LinkPrefix}{Id}n{node.ToString(CultureInfo.InvariantCulture)}";

    public string OwnerFile => Path.Combine(OwnerDirectory, Id);

    /// <summary>The folder holding the cluster's data and logs.</summary>
    public string DataFolder => Path.Combine(Path.GetTempPath(), NamespacePrefix + Id);

    /// <summary>The lab id in one of our namespace names; null for anyone else's namespace.</summary>
    public static string? IdOfNamespace(string name)
    {
        if (!name.StartsWith(NamespacePrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = name[NamespacePrefix.Length..];
        var dash = rest.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 ? rest[..dash] : null;
    }
}

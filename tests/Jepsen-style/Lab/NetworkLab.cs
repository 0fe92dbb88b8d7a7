using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace PgRaft.JepsenStyle.Lab;

/// <summary>
/// One network namespace per node, each joined by a veth pair to a bridge that lives in a hub namespace of its own
/// (so the host's firewall, which may drop forwarded and bridged traffic, never sees node-to-node packets), and one more
/// veth pair from the bridge to this test process's namespace. Nodes get 10.S.T.N/24, the test process 10.S.T.254;
/// the nodes have no route beyond their subnet. Everything is removed on dispose.
/// </summary>
internal sealed partial class NetworkLab : IAsyncDisposable
{
    private const string Bridge = "br0";
    private readonly Action<string> _log;
    private readonly int _second;
    private readonly int _third;

    private NetworkLab(LabNames names, int nodes, int second, int third, Action<string> log)
    {
        Names = names;
        Nodes = nodes;
        _second = second;
        _third = third;
        _log = log;
    }

    public LabNames Names { get; }

    public int Nodes { get; }

    public IPAddress HostAddress => Address(254);

    public IPAddress NodeAddress(int node) => Address(node);

    public string NodeNamespace(int node) => Names.NodeNamespace(node);

    /// <summary>The node a lab address belongs to; null for any other address.</summary>
    public int? NodeOf(IPAddress address) =>
        Enumerable.Range(1, Nodes).Select(n => (int?)n).FirstOrDefault(n => NodeAddress(n!.Value).Equals(address));

    public static async Task<NetworkLab> CreateAsync(int nodes, Action<string> log, CancellationToken cancellationToken)
    {
        await StaleLabs.RemoveAsync(log, cancellationToken);
        var names = new LabNames(RandomNumberGenerator.GetHexString(6, lowercase: true));
        LabOwner.Claim(names);
        var (second, third) = await FreeSubnetAsync(cancellationToken);
        var lab = new NetworkLab(names, nodes, second, third, log);
        try
        {
            await lab.BuildAsync(cancellationToken);
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }

        return lab;
    }

    /// <summary>Runs a command inside a node's namespace.</summary>
    public Task<string> ExecAsync(int node, string file, IEnumerable<string> arguments, CancellationToken cancellationToken) =>
        ProcessRunner.RunAsync("ip", ["netns", "exec", NodeNamespace(node), file, .. arguments], cancellationToken);

    /// <summary>Plugs or pulls a node's cable: the bridge's end of its veth pair goes up or down.</summary>
    public Task SetLinkAsync(int node, bool up, CancellationToken cancellationToken) =>
        Ip(cancellationToken, "-n", Names.HubNamespace, "link", "set", Names.HubLink(node), up ? "up" : "down");

    public async Task<bool> LinkUpAsync(int node, CancellationToken cancellationToken)
    {
        var output = await Ip(cancellationToken, "-n", Names.HubNamespace, "-o", "link", "show", Names.HubLink(node));
        return output.Contains("state UP", StringComparison.Ordinal) || output.Contains(",UP", StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        // Teardown must finish even when the test's own token was cancelled.
        await StaleLabs.RemoveAsync(Names, CancellationToken.None);
        _log($"lab {Names.Id} removed");
    }

    private IPAddress Address(int last) => IPAddress.Parse($"10.{_second}.{_third}.{last}");

    private async Task BuildAsync(CancellationToken cancellationToken)
    {
        var hub = Names.HubNamespace;
        await Ip(cancellationToken, "netns", "add", hub);
        await Ip(cancellationToken, "-n", hub, "link", "set", "lo", "up");
        await Ip(cancellationToken, "-n", hub, "link", "add", Bridge, "type", "bridge");
        await Ip(cancellationToken, "-n", hub, "link", "set", Bridge, "up");
        for (var n = 1; n <= Nodes; n++)
        {
            var node = NodeNamespace(n);
            await Ip(cancellationToken, "netns", "add", node);
            await Ip(cancellationToken, "-n", node, "link", "set", "lo", "up");
            await Ip(cancellationToken, "link", "add", Names.HubLink(n), "netns", hub, "type", "veth", "peer", "name", "eth0", "netns", node);
            await Ip(cancellationToken, "-n", hub, "link", "set", Names.HubLink(n), "master", Bridge, "up");
            await Ip(cancellationToken, "-n", node, "addr", "add", $"{NodeAddress(n)}/24", "dev", "eth0");
            await Ip(cancellationToken, "-n", node, "link", "set", "eth0", "up");
        }

        await Ip(cancellationToken, "link", "add", Names.HostLink, "type", "veth", "peer", "name", "host", "netns", hub);
        await Ip(cancellationToken, "-n", hub, "link", "set", "host", "master", Bridge, "up");
        await Ip(cancellationToken, "addr", "add", $"{HostAddress}/24", "dev", Names.HostLink);
        await Ip(cancellationToken, "link", "set", Names.HostLink, "up");
        _log($"lab {Names.Id}: namespaces {Names.NodeNamespace(1)}..{Nodes}, nodes 10.{_second}.{_third}.1-{Nodes}, this process {HostAddress}");
    }

    private static Task<string> Ip(CancellationToken cancellationToken, params string[] arguments) =>
        ProcessRunner.RunAsync("ip", arguments, cancellationToken);

    /// <summary>A 10.S.T.0/24 (S in 200–249) that no address or route of this host overlaps.</summary>
    private static async Task<(int Second, int Third)> FreeSubnetAsync(CancellationToken cancellationToken)
    {
        var routes = await ProcessRunner.RunAsync("ip", ["-4", "route", "show", "table", "all"], cancellationToken);
        var taken = PrefixPattern().Matches(routes)
            .Select(m => (Network: IPAddress.Parse(m.Groups[1].Value), Length: m.Groups[2].Success ? int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) : 32))
            .ToList();
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var second = RandomNumberGenerator.GetInt32(200, 250);
            var third = RandomNumberGenerator.GetInt32(0, 256);
            var candidate = new IPNetwork(IPAddress.Parse($"10.{second}.{third}.0"), 24);
            if (!taken.Any(t => t.Length > 0 && Overlaps(candidate, new IPNetwork(MaskedNetwork(t.Network, t.Length), t.Length))))
            {
                return (second, third);
            }
        }

        throw new InvalidOperationException("no free 10.x.y.0/24 subnet for the lab");
    }

    private static bool Overlaps(IPNetwork a, IPNetwork b) => a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress);

    private static IPAddress MaskedNetwork(IPAddress address, int length)
    {
        var bytes = address.GetAddressBytes();
        var value = (uint)(bytes[0] << 24 | bytes[1] << 16 | bytes[2] << 8 | bytes[3]);
        var mask = length == 0 ? 0u : uint.MaxValue << (32 - length);
        var masked = value & mask;
        return new IPAddress([(byte)(masked >> 24), (byte)(masked >> 16), (byte)(masked >> 8), (byte)masked]);
    }

    [GeneratedRegex(@"(?:^|\s)(\d+\.\d+\.\d+\.\d+)(?:/(\d+))?(?=\s|$)", RegexOptions.Multiline)]
    private static partial Regex PrefixPattern();
}

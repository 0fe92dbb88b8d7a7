namespace PgRaft.JepsenStyle.Lab;

/// <summary>
/// Network faults: iptables rules in the nodes' own namespaces, dropping packets where they arrive (INPUT) so a sender
/// sees silence rather than an error, as on a real cut link; and pulled cables (the bridge's end of a node's veth pair
/// set down). <see cref="HealAsync"/> flushes every rule and plugs every cable back in.
/// </summary>
internal sealed class NetworkFaults(NetworkLab lab)
{
    /// <summary>Every node of one side and every node of the other stop hearing each other, both ways.</summary>
    public async Task PartitionAsync(IReadOnlyCollection<int> side, IReadOnlyCollection<int> otherSide, CancellationToken cancellationToken)
    {
        foreach (var a in side)
        {
            foreach (var b in otherSide)
            {
                await DropAsync(from: a, to: b, cancellationToken);
                await DropAsync(from: b, to: a, cancellationToken);
            }
        }
    }

    /// <summary>Packets from <paramref name="from"/> no longer reach <paramref name="to"/>; the other direction still works.</summary>
    public Task DropAsync(int from, int to, CancellationToken cancellationToken) =>
        lab.ExecAsync(to, "iptables", ["-w", "-A", "INPUT", "-s", lab.NodeAddress(from).ToString(), "-j", "DROP"], cancellationToken);

    /// <summary>The node hears nothing from anyone, this test process included, and nobody hears it: a pulled cable.</summary>
    public Task IsolateAsync(int node, CancellationToken cancellationToken) => lab.SetLinkAsync(node, up: false, cancellationToken);

    public async Task HealAsync(CancellationToken cancellationToken)
    {
        for (var n = 1; n <= lab.Nodes; n++)
        {
            await lab.ExecAsync(n, "iptables", ["-w", "-F", "INPUT"], cancellationToken);
            await lab.SetLinkAsync(n, up: true, cancellationToken);
        }
    }

    /// <summary>The rules in force, one line each, for the run's log.</summary>
    public async Task<string> DescribeAsync(CancellationToken cancellationToken)
    {
        var lines = new List<string>();
        for (var n = 1; n <= lab.Nodes; n++)
        {
            var rules = await lab.ExecAsync(n, "iptables", ["-w", "-S", "INPUT"], cancellationToken);
            lines.AddRange(rules.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(r => r.StartsWith("-A", StringComparison.Ordinal)).Select(r => $"node{n}: {r}"));
            if (!await lab.LinkUpAsync(n, cancellationToken))
            {
                lines.Add($"node{n}: cable pulled");
            }
        }

        return lines.Count == 0 ? "no rules" : string.Join("; ", lines);
    }
}

using System.Collections.Immutable;
using System.Text;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Tests.Cluster;

/// <summary>
/// A random log of cluster commands built from a seed: mostly commands that make sense against the state so far
/// (tracked with the pure applier), some stale or invalid ones, and some garbage entries.
/// </summary>
internal static class CommandScenario
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static List<byte[]> Build(int seed)
    {
        var random = new Random(seed);
        var state = ClusterState.Empty;
        var entries = new List<byte[]>();
        var length = random.Next(1, 40);
        for (var i = 0; i < length; i++)
        {
            if (random.Next(15) == 0)
            {
                entries.Add(random.Next(2) == 0 ? [] : Encoding.UTF8.GetBytes("{\"type\":\"nonsense\",\"x\":" + random.Next() + "}"));
                continue;
            }

            var command = Next(random, state);
            entries.Add(CommandCodec.Encode(command));
            state = ClusterStateApplier.Apply(state, command).State;
        }

        return entries;
    }

    private static string Id(Random random) => random.Next(12) == 0 ? "Bad Id" : "n" + random.Next(1, 6);

    private static string? Existing(Random random, ClusterState state) =>
        state.Members.IsEmpty ? null : state.Members.Keys.ElementAt(random.Next(state.Members.Count));

    public static ClusterCommand Next(Random random, ClusterState state)
    {
        switch (random.Next(12))
        {
            case 0:
            case 1:
                return new AddMember(Member(random, Id(random)));
            case 2:
                return new UpdateMember(Member(random, Existing(random, state) ?? Id(random)));
            case 3:
                return new RemoveMember(Existing(random, state) ?? Id(random));
            case 4:
                return random.Next(2) == 0
                    ? new SetSpec(new ClusterSpec
                    {
                        Mode = (ReplicationMode)random.Next(3),
                        SyncStandbyCount = random.Next(0, 3),
                        FailTimeout = TimeSpan.FromMilliseconds(random.Next(500, 3000)),
                        ExtraHbaLines = random.Next(2) == 0 ? [] : ["host all all 10.0.0.0/8 scram-sha-256"],
                        PermanentSlots = random.Next(3) switch { 0 => [], 1 => ["archiver"], _ => ["n" + random.Next(1, 6)] },
                        IgnoreSlots = random.Next(2) == 0 ? [] : ["cdc_*"],
                    })
                    : new PatchSpec(new SpecPatch
                    {
                        MaxLagOnFailover = random.Next(-1, 1 << 20),
                        PostgresParameters = ImmutableSortedDictionary.CreateRange(
                            StringComparer.Ordinal,
                            [new KeyValuePair<string, string?>("p" + random.Next(3), random.Next(3) == 0 ? null : "v" + random.Next(9))]),
                    });
            case 5:
                return random.Next(2) == 0 ? new Pause() : new Resume();
            case 6:
            case 7:
                return ViewChange(random, state);
            case 8:
                return new RecordBootstrap(state.View.Primary ?? Id(random), (ulong)random.NextInt64(0, 5));
            case 9:
                return new RequestSwitchover(state.View.Generation - random.Next(2), random.Next(3) == 0 ? null : Existing(random, state), Epoch.AddSeconds(random.Next(100)));
            case 10:
                return new SwitchoverStopped(state.Switchover?.Generation ?? random.Next(5), new Lsn((ulong)random.NextInt64(0, 1L << 40)), random.Next(1, 4), Epoch.AddSeconds(random.Next(100)));
            default:
                return random.Next(2) == 0 ? new CancelSwitchover("operator") : new RecordPostBootstrapScriptDone(Existing(random, state) ?? "n1");
        }
    }

    private static Member Member(Random random, string id) =>
        new(id, $"{id}:7432", $"{id}:5433", $"{id}:5432", random.Next(20) == 0 ? "has space:1" : $"{id}:8008", new MemberTags
        {
            NoFailover = random.Next(5) == 0,
            NoSync = random.Next(5) == 0,
            NoLoadBalance = random.Next(5) == 0,
            Priority = random.Next(3),
            ReplicateFrom = random.Next(6) == 0 ? "n" + random.Next(1, 6) : null,
        });

    private static ChangeView ViewChange(Random random, ClusterState state)
    {
        var view = state.View;
        var ids = state.Members.Keys.ToList();
        var expected = view.Generation - (random.Next(6) == 0 ? 1 : 0);
        if (ids.Count == 0)
        {
            return new ChangeView(expected, view with { Generation = expected + 1, Primary = "n1" }, null);
        }

        var primary = random.Next(3) == 0 || view.Primary is null ? ids[random.Next(ids.Count)] : view.Primary;
        var others = ids.Where(id => id != primary).ToList();
        var set = others.Where(_ => random.Next(2) == 0).ToList();
        var sync = SyncConfig.Of(set.Count == 0 ? 0 : random.Next(0, set.Count + 1), set);
        var written = random.Next(2) == 0 ? sync : SyncConfig.Of(set.Count == 0 ? 0 : random.Next(sync.Quorum, set.Count + 1), set);
        var upstreams = others.ToImmutableSortedDictionary(id => id, _ => primary, StringComparer.Ordinal);
        var next = new ClusterView(expected + 1, primary, sync, written, upstreams);
        var history = primary == view.Primary
            ? null
            : new HistoryEntry(expected + 1, view.Primary, primary, (ChangeReason)random.Next(3), random.Next(1, 4), new Lsn((ulong)random.NextInt64(0, 1L << 36)), Epoch.AddSeconds(random.Next(1000)));
        return new ChangeView(expected, next, history);
    }
}

using System.Globalization;
using PgRaft.Raft.Core;

namespace PgRaft.Raft.Tests.Simulation;

/// <summary>
/// Everything that determines one simulated schedule. <see cref="ToReplayString"/> gives a string that
/// <see cref="Parse"/> (and the PGRAFT_SIM_SEED variable) turns back into the same schedule; a plain integer seed
/// is expanded by <see cref="FromSeed"/>.
/// </summary>
internal sealed record SimulationParameters(
    int Seed,
    int Voters,
    int Spares,
    int Steps,
    bool PreVote,
    bool CheckQuorum,
    int HeartbeatTicks,
    int DropPercent,
    int DuplicatePercent,
    int CrashPerMille,
    int PartitionPerMille,
    bool Membership,
    bool Compaction,
    int MaxEntriesPerAppend,
    int MaxInflight,
    CoreFault Fault = CoreFault.None)
{
    public const int ElectionTicks = 10;

    private static readonly int[] BatchSizes = [1, 4, 64];

    public static SimulationParameters FromSeed(int seed)
    {
        var r = new Random(seed);
        return new SimulationParameters(
            Seed: seed,
            Voters: 3 + r.Next(3),
            Spares: r.Next(3),
            Steps: 200 + r.Next(600),
            PreVote: r.Next(4) != 0,
            CheckQuorum: r.Next(4) != 0,
            HeartbeatTicks: 1 + r.Next(3),
            DropPercent: r.Next(10),
            DuplicatePercent: r.Next(5),
            CrashPerMille: r.Next(25),
            PartitionPerMille: r.Next(30),
            Membership: r.Next(2) == 0,
            Compaction: r.Next(2) == 0,
            MaxEntriesPerAppend: BatchSizes[r.Next(BatchSizes.Length)],
            MaxInflight: BatchSizes[r.Next(BatchSizes.Length)]);
    }

    public string ToReplayString() => string.Join(',',
        $"seed={Seed}", $"voters={Voters}", $"spares={Spares}", $"steps={Steps}", $"prevote={B(PreVote)}", $"checkquorum={B(CheckQuorum)}",
        $"heartbeat={HeartbeatTicks}", $"drop={DropPercent}", $"dup={DuplicatePercent}", $"crash={CrashPerMille}", $"partition={PartitionPerMille}",
        $"membership={B(Membership)}", $"compaction={B(Compaction)}", $"batch={MaxEntriesPerAppend}", $"inflight={MaxInflight}", $"fault={(int)Fault}");

    public static SimulationParameters Parse(string text)
    {
        text = text.Trim();
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed))
        {
            return FromSeed(seed);
        }

        var values = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2 || !int.TryParse(kv[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            {
                throw new FormatException($"Bad simulation parameter '{part}': expected name=integer (as printed by a failing run).");
            }

            values[kv[0]] = v;
        }

        int Get(string name) => values.TryGetValue(name, out var v)
            ? v
            : throw new FormatException($"Simulation parameter '{name}' is missing from '{text}'.");

        return new SimulationParameters(
            Get("seed"), Get("voters"), Get("spares"), Get("steps"), Get("prevote") != 0, Get("checkquorum") != 0, Get("heartbeat"),
            Get("drop"), Get("dup"), Get("crash"), Get("partition"), Get("membership") != 0, Get("compaction") != 0, Get("batch"), Get("inflight"),
            (CoreFault)(values.TryGetValue("fault", out var f) ? f : 0));
    }

    private static int B(bool b) => b ? 1 : 0;
}

using System.Collections.Immutable;
using System.Text;
using Microsoft.Extensions.Logging;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Tests.Cluster;

public sealed class ClusterStateMachineTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    private static ClusterView BootstrapView(ClusterState state, string primary) =>
        new(state.View.Generation + 1, primary, SyncConfig.Async, SyncConfig.Async,
            state.Members.Keys.Where(k => k != primary).ToImmutableSortedDictionary(k => k, _ => primary, StringComparer.Ordinal));

    [Fact]
    public void Commands_applied_in_order_give_the_expected_state()
    {
        var machine = Fixtures.NewMachine();
        var results = Fixtures.ApplyAll(
            machine,
            new AddMember(Fixtures.Member("node1")),
            new AddMember(Fixtures.Member("node2", new MemberTags { Priority = 2 })),
            new AddMember(Fixtures.Member("node3", new MemberTags { NoFailover = true })),
            new PatchSpec(new SpecPatch
            {
                Mode = ReplicationMode.SyncStrict,
                MaxLagOnFailover = 4096,
                PostgresParameters = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, string?>("work_mem", "8MB")]),
            }),
            new Pause());
        Assert.All(results, r => Assert.Equal(CommandOutcome.Applied, r.Outcome));

        var state = machine.Current;
        var view = BootstrapView(state, "node1");
        var bootstrap = new HistoryEntry(1, null, "node1", ChangeReason.Bootstrap, 1, Lsn.Zero, Noon);
        results = Fixtures.ApplyAll(
            machine,
            new ChangeView(0, view, bootstrap),
            new RecordBootstrap("node1", 7_000_000_000_000_000_001UL),
            new RecordPostBootstrapScriptDone("node1"),
            new Resume(),
            new RemoveMember("node3"));
        Assert.All(results, r => Assert.Equal(CommandOutcome.Applied, r.Outcome));

        state = machine.Current;
        Assert.Equal(["node1", "node2"], state.Members.Keys);
        Assert.Equal(2, state.Members["node2"].Tags.Priority);
        Assert.Equal(ReplicationMode.SyncStrict, state.Spec.Mode);
        Assert.Equal(4096, state.Spec.MaxLagOnFailover);
        Assert.Equal("8MB", state.Spec.PostgresParameters["work_mem"]);
        Assert.False(state.Spec.Paused);
        Assert.Equal(1, state.View.Generation);
        Assert.Equal("node1", state.View.Primary);
        Assert.Equal(bootstrap, Assert.Single(state.History));
        Assert.Equal(new BootstrapRecord("node1", 7_000_000_000_000_000_001UL, true), state.Bootstrap);
        Assert.Equal(10, machine.Applied.Index);
    }

    [Fact]
    public void Slot_lists_are_checked_against_slot_names_each_other_and_the_members_slots()
    {
        var machine = Fixtures.NewMachine();
        Fixtures.ApplyAll(machine, new AddMember(Fixtures.Member("node1")));

        var bad = Fixtures.ApplyAll(machine, new PatchSpec(new SpecPatch { PermanentSlots = ["Archiver", "ok", "ok"], IgnoreSlots = ["cdc-*", "ok"] }))[0];
        Assert.Equal(CommandOutcome.Rejected, bad.Outcome);
        Assert.Contains("permanent slot 'Archiver' is not a slot name", bad.Message, StringComparison.Ordinal);
        Assert.Contains("permanent slot 'ok' is listed twice", bad.Message, StringComparison.Ordinal);
        Assert.Contains("ignored slot 'cdc-*' is not a slot name", bad.Message, StringComparison.Ordinal);
        Assert.Contains("slot 'ok' is both permanent and ignored", bad.Message, StringComparison.Ordinal);

        var members = Fixtures.ApplyAll(machine, new PatchSpec(new SpecPatch { PermanentSlots = ["node1"] }))[0];
        Assert.Equal(CommandOutcome.Rejected, members.Outcome);
        Assert.Contains("is member node1's own slot", members.Message, StringComparison.Ordinal);

        Assert.True(Fixtures.ApplyAll(machine, new PatchSpec(new SpecPatch { PermanentSlots = ["archiver"], IgnoreSlots = ["cdc_*"] }))[0].IsApplied);
        var clash = Fixtures.ApplyAll(machine, new AddMember(Fixtures.Member("archiver")))[0];
        Assert.Equal(CommandOutcome.Rejected, clash.Outcome);
        Assert.Contains("a permanent slot of the spec", clash.Message, StringComparison.Ordinal);
        Assert.Equal(["archiver"], machine.Current.Spec.PermanentSlots);
        Assert.True(machine.Current.Spec.IsIgnoredSlot("cdc_orders"));
        Assert.Single(machine.Current.Members);
    }

    [Fact]
    public void A_view_change_computed_from_a_stale_generation_is_rejected()
    {
        var machine = Fixtures.NewMachine();
        Fixtures.ApplyAll(machine, new AddMember(Fixtures.Member("node1")), new AddMember(Fixtures.Member("node2")));
        var first = BootstrapView(machine.Current, "node1");
        var fromZero = new ChangeView(0, first, new HistoryEntry(1, null, "node1", ChangeReason.Bootstrap, 1, Lsn.Zero, Noon));
        Assert.True(Fixtures.ApplyAll(machine, fromZero)[0].IsApplied);

        // A second leader, still seeing generation 0, decides node2 should be primary: compare-and-set refuses it.
        var rival = new ChangeView(0, first with { Primary = "node2", Upstreams = first.Upstreams.Clear().Add("node1", "node2") },
            new HistoryEntry(1, null, "node2", ChangeReason.Bootstrap, 1, Lsn.Zero, Noon));
        var result = Fixtures.ApplyAll(machine, rival)[0];
        Assert.Equal(CommandOutcome.Rejected, result.Outcome);
        Assert.Contains("stale", result.Message, StringComparison.Ordinal);
        Assert.Equal("node1", machine.Current.View.Primary);
        Assert.Equal(1, machine.Current.View.Generation);

        // A view that skips a generation is refused too.
        var skipping = new ChangeView(1, first with { Generation = 5 }, null);
        Assert.Equal(CommandOutcome.Rejected, Fixtures.ApplyAll(machine, skipping)[0].Outcome);
    }

    [Fact]
    public void Committing_a_smaller_sync_set_before_the_primary_dropped_the_member_is_rejected()
    {
        var machine = Fixtures.NewMachine();
        Fixtures.ApplyAll(machine, new AddMember(Fixtures.Member("a")), new AddMember(Fixtures.Member("b")), new AddMember(Fixtures.Member("c")));
        var view = BootstrapView(machine.Current, "a");
        Fixtures.ApplyAll(machine, new ChangeView(0, view, new HistoryEntry(1, null, "a", ChangeReason.Bootstrap, 1, Lsn.Zero, Noon)));
        var both = SyncConfig.Of(1, "b", "c");
        var grow = machine.Current.View with { Generation = 2, Sync = both with { Quorum = 0 }, PrimarySync = both };
        Assert.True(Fixtures.ApplyAll(machine, new ChangeView(1, grow, null))[0].IsApplied);
        var confirm = machine.Current.View with { Generation = 3, Sync = both };
        Assert.True(Fixtures.ApplyAll(machine, new ChangeView(2, confirm, null))[0].IsApplied);

        // Dropping c from the committed set while the primary may still wait on ANY 1 (b, c) would be unsafe.
        var tooEarly = machine.Current.View with { Generation = 4, Sync = SyncConfig.Of(1, "b"), PrimarySync = SyncConfig.Of(1, "b") };
        var result = Fixtures.ApplyAll(machine, new ChangeView(3, tooEarly, null))[0];
        Assert.Equal(CommandOutcome.Rejected, result.Outcome);
        Assert.Contains("unsafe", result.Message, StringComparison.Ordinal);

        // The safe order: tell the primary first (bound unchanged), then narrow the bound.
        var tell = machine.Current.View with { Generation = 4, PrimarySync = SyncConfig.Of(1, "b") };
        Assert.True(Fixtures.ApplyAll(machine, new ChangeView(3, tell, null))[0].IsApplied);
        var narrow = machine.Current.View with { Generation = 5, Sync = SyncConfig.Of(1, "b") };
        Assert.True(Fixtures.ApplyAll(machine, new ChangeView(4, narrow, null))[0].IsApplied);
        Assert.Equal(["b"], machine.Current.View.SyncStandbys);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("null")]
    [InlineData("{}")]
    [InlineData("[]")]
    [InlineData("{\"type\":\"launchMissiles\"}")]
    [InlineData("{\"type\":\"addMember\"}")]
    [InlineData("{\"type\":\"addMember\",\"member\":null}")]
    [InlineData("{\"type\":\"changeView\",\"expectedGeneration\":\"x\"}")]
    [InlineData("{\"type\":\"recordBootstrap\",\"nodeId\":\"a\",\"systemIdentifier\":-1}")]
    [InlineData("{\"type\":\"switchoverStopped\",\"generation\":1,\"finalLsn\":\"zz\",\"timeline\":1}")]
    public void Garbage_entries_are_rejected_and_logged_without_changing_the_state(string text)
    {
        var logger = new ListLogger<ClusterStateMachine>();
        var machine = Fixtures.NewMachine(logger);
        Fixtures.ApplyAll(machine, new AddMember(Fixtures.Member("node1")));
        var before = machine.Current;

        var result = (CommandResult)machine.Apply(2, Encoding.UTF8.GetBytes(text))!;

        Assert.Same(before, machine.Current);
        Assert.Equal(2, machine.Applied.Index);
        if (text.Length == 0)
        {
            Assert.Equal(CommandOutcome.Ignored, result.Outcome);
            return;
        }

        Assert.Equal(CommandOutcome.Rejected, result.Outcome);
        Assert.False(string.IsNullOrWhiteSpace(result.Message));
        Assert.Contains(logger.Entries, e => e.Level >= LogLevel.Warning && e.Message.Contains("entry 2", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Random_bytes_in_the_log_never_crash_the_state_machine() =>
        Properties.ForAllSeeds(23, 300, seed =>
        {
            var random = new Random(seed);
            var bytes = new byte[random.Next(1, 200)];
            random.NextBytes(bytes);
            if (random.Next(3) == 0)
            {
                // Mostly-valid JSON with a byte flipped is the nastier case.
                var valid = CommandCodec.Encode(new AddMember(Fixtures.Member("node" + random.Next(9))));
                valid[random.Next(valid.Length)] ^= (byte)(1 << random.Next(8));
                bytes = valid;
            }

            var machine = Fixtures.NewMachine();
            var result = machine.Apply(1, bytes) as CommandResult;
            return result is not null && machine.Applied.Index == 1 && (result.Outcome != CommandOutcome.Applied || machine.Current.Members.Count == 1);
        });

    [Fact]
    public void An_entry_index_already_applied_is_ignored()
    {
        var machine = Fixtures.NewMachine();
        Fixtures.ApplyAll(machine, new AddMember(Fixtures.Member("node1")));
        var again = (CommandResult)machine.Apply(1, CommandCodec.Encode(new RemoveMember("node1")))!;
        Assert.Equal(CommandOutcome.Ignored, again.Outcome);
        Assert.Single(machine.Current.Members);
    }

    [Fact]
    public void Snapshot_then_restore_gives_the_same_state_for_random_command_sequences() =>
        Properties.ForAllSeeds(37, 150, seed =>
        {
            var commands = CommandScenario.Build(seed);
            var machine = Fixtures.NewMachine();
            foreach (var entry in commands)
            {
                machine.Apply(machine.Applied.Index + 1, entry);
            }

            var snapshot = machine.TakeSnapshot();
            var restored = Fixtures.NewMachine();
            restored.Restore(snapshot);
            var equal = restored.Current.Equals(machine.Current)
                && restored.Applied.Index == machine.Applied.Index
                && snapshot.AsSpan().SequenceEqual(restored.TakeSnapshot());
            if (!equal)
            {
                throw new InvalidOperationException($"seed {seed}: restored state differs:\n{Encoding.UTF8.GetString(snapshot)}\n{Encoding.UTF8.GetString(restored.TakeSnapshot())}");
            }

            // The same log replayed gives the same state (the state machine is deterministic).
            var replayed = Fixtures.NewMachine();
            foreach (var entry in commands)
            {
                replayed.Apply(replayed.Applied.Index + 1, entry);
            }

            return replayed.Current.Equals(machine.Current);
        });

    [Fact]
    public void A_snapshot_from_a_newer_format_version_is_refused_clearly()
    {
        var machine = Fixtures.NewMachine();
        Fixtures.ApplyAll(machine, new AddMember(Fixtures.Member("node1")));
        var text = Encoding.UTF8.GetString(machine.TakeSnapshot()).Replace("\"version\":1", "\"version\":9", StringComparison.Ordinal);
        var other = Fixtures.NewMachine();

        var error = Assert.Throws<InvalidDataException>(() => other.Restore(Encoding.UTF8.GetBytes(text)));

        Assert.Contains("version 9", error.Message, StringComparison.Ordinal);
        Assert.Contains("upgrade", error.Message, StringComparison.Ordinal);
        Assert.Same(ClusterState.Empty, other.Current);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("{\"version\":1}")]
    [InlineData("{\"appliedIndex\":3}")]
    [InlineData("{\"version\":1,\"appliedIndex\":3,\"state\":{\"spec\":null}}")]
    public void A_damaged_snapshot_is_refused_and_the_state_kept(string text)
    {
        var machine = Fixtures.NewMachine();
        Fixtures.ApplyAll(machine, new AddMember(Fixtures.Member("node1")));
        var before = machine.Current;

        var error = Assert.Throws<InvalidDataException>(() => machine.Restore(Encoding.UTF8.GetBytes(text)));

        Assert.Contains("snapshot", error.Message, StringComparison.Ordinal);
        Assert.Same(before, machine.Current);
    }

    [Fact]
    public async Task Readers_are_notified_of_a_change()
    {
        var machine = Fixtures.NewMachine();
        var seen = machine.Current;
        var notified = new List<ClusterState>();
        machine.Changed += notified.Add;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var waiting = machine.WaitForChangeAsync(seen, timeout.Token);
        Assert.False(waiting.IsCompleted);

        Fixtures.ApplyAll(machine, new AddMember(Fixtures.Member("node1")));

        var changed = await waiting;
        Assert.Single(changed.Members);
        Assert.Same(changed, Assert.Single(notified));

        // A rejected command changes nothing and wakes nobody.
        var next = machine.WaitForChangeAsync(changed, timeout.Token);
        Fixtures.ApplyAll(machine, new RemoveMember("nobody"));
        Assert.False(next.IsCompleted);
        Assert.Single(notified);
    }
}

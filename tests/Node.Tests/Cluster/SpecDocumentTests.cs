using System.Collections.Immutable;
using PgRaft.Node.Cluster;

namespace PgRaft.Node.Tests.Cluster;

public sealed class SpecDocumentTests
{
    private static readonly ClusterSpec Spec = ClusterSpec.Default with
    {
        PostgresParameters = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, string>("work_mem", "8MB")]),
        ExtraHbaLines = ["host all all 10.0.0.0/8 scram-sha-256"],
        PermanentSlots = ["archiver"],
        IgnoreSlots = ["cdc_*"],
    };

    [Fact]
    public void The_rendered_document_reads_back_as_the_same_spec_with_friendly_units()
    {
        var text = SpecDocument.Render(Spec);

        Assert.Contains("\"failTimeout\": \"1s\"", text, StringComparison.Ordinal);
        Assert.Contains("\"leaseTimeout\": \"1500ms\"", text, StringComparison.Ordinal);
        Assert.Contains("\"maxLagOnFailover\": \"1MB\"", text, StringComparison.Ordinal);
        Assert.Contains("\"mode\": \"sync\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("paused", text, StringComparison.Ordinal);
        var errors = new List<string>();
        Assert.Equal(Spec, SpecDocument.Parse(ClusterSpec.Default, text, errors));
        Assert.Empty(errors);
    }

    [Theory]
    [InlineData("1500ms", 1500)]
    [InlineData("1.5s", 1500)]
    [InlineData("2m", 120_000)]
    [InlineData(" 10s ", 10_000)]
    public void Durations_take_a_unit(string text, int milliseconds)
    {
        Assert.True(SpecDocument.TryParseDuration(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
    }

    [Theory]
    [InlineData("1500")]
    [InlineData("fast")]
    [InlineData("-1s")]
    [InlineData("3 fortnights")]
    [InlineData("2d")]
    public void A_duration_without_a_known_unit_is_refused(string text) => Assert.False(SpecDocument.TryParseDuration(text, out _));

    [Theory]
    [InlineData("1048576", 1 << 20)]
    [InlineData("512kB", 512 << 10)]
    [InlineData("16MB", 16 << 20)]
    [InlineData("1GB", 1L << 30)]
    public void Sizes_take_bytes_or_a_unit(string text, long bytes)
    {
        Assert.True(SpecDocument.TryParseSize(text, out var parsed));
        Assert.Equal(bytes, parsed);
        Assert.True(SpecDocument.TryParseSize(SpecDocument.FormatSize(bytes), out var again));
        Assert.Equal(bytes, again);
    }

    [Fact]
    public void A_bad_document_names_every_problem_and_keeps_the_rest()
    {
        var errors = new List<string>();
        var spec = SpecDocument.Parse(Spec, """{ "failTimeout": 2000, "mode": "sometimes", "paused": true, "syncStandbyCount": 2, "postgresParameters": { "work_mem": [1] } }""", errors);

        Assert.Contains(errors, e => e.Contains("failTimeout '2000' is not a duration", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("mode 'sometimes' is not one of async, sync, sync-strict", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("use `pgraft pause`", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("postgresParameters.work_mem must be a string", StringComparison.Ordinal));
        Assert.Equal(2, spec.SyncStandbyCount);

        errors.Clear();
        Assert.Same(Spec, SpecDocument.Parse(Spec, "{ nope", errors));
        Assert.Contains("not valid JSON", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Set_names_the_settings_there_are_when_the_key_is_unknown()
    {
        Assert.Null(SpecDocument.Set(Spec, "colour", "blue", out var error));
        Assert.Contains("failTimeout", error, StringComparison.Ordinal);
        Assert.Equal(ReplicationMode.SyncStrict, SpecDocument.Set(Spec, "MODE", "sync-strict", out _)!.Mode);
        Assert.Null(SpecDocument.Set(Spec, "postgresParameters", "x", out error));
        Assert.Contains("--pg", error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_patch_carries_only_what_changed_and_removes_dropped_parameters()
    {
        var after = Spec with
        {
            FailTimeout = TimeSpan.FromSeconds(2),
            PostgresParameters = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, string>("shared_buffers", "256MB")]),
        };

        var patch = SpecDocument.Patch(Spec, after)!;

        Assert.Equal(TimeSpan.FromSeconds(2), patch.FailTimeout);
        Assert.Null(patch.LeaseTimeout);
        Assert.Null(patch.ExtraHbaLines);
        Assert.Equal("256MB", patch.PostgresParameters!["shared_buffers"]);
        Assert.Null(patch.PostgresParameters["work_mem"]);
        Assert.Equal(after, patch.ApplyTo(Spec));
        Assert.Equal(["failTimeout: 1s -> 2s", "postgresParameters.shared_buffers: (not set) -> 256MB", "postgresParameters.work_mem: 8MB -> (removed)"], SpecDocument.Describe(Spec, after));
        Assert.Null(SpecDocument.Patch(Spec, Spec with { }));
    }

    [Fact]
    public void Slot_lists_are_set_from_a_comma_list_described_and_patched_alone()
    {
        var after = SpecDocument.Set(ClusterSpec.Default, "permanentSlots", " archiver, cdc_main ", out var error);
        Assert.Null(error);
        Assert.Equal(["archiver", "cdc_main"], after!.PermanentSlots);
        after = SpecDocument.Set(after, "ignoreslots", "tool_*", out _)!;
        Assert.Equal(["tool_*"], after.IgnoreSlots);

        Assert.Equal(["permanentSlots: + archiver", "permanentSlots: + cdc_main", "ignoreSlots: + tool_*"], SpecDocument.Describe(ClusterSpec.Default, after));
        var patch = SpecDocument.Patch(ClusterSpec.Default, after)!;
        Assert.Equal(after, patch.ApplyTo(ClusterSpec.Default));
        Assert.Null(patch.ExtraHbaLines);
        Assert.Null(patch.Mode);

        Assert.Empty(SpecDocument.Set(after, "permanentSlots", "", out _)!.PermanentSlots);

        var errors = new List<string>();
        SpecDocument.Parse(ClusterSpec.Default, """{ "permanentSlots": "archiver" }""", errors);
        Assert.Contains("permanentSlots must be an array of slot names", Assert.Single(errors), StringComparison.Ordinal);
    }
}

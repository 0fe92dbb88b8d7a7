using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PgRaft.Node.Cluster;

/// <summary>
/// The cluster spec as an operator reads and edits it (<c>pgraft show-config</c>, <c>pgraft edit-config</c>): JSON with
/// durations as "1500ms" or "2s" and sizes as "16MB". Every problem is named with the key, the value and what would be
/// accepted. <c>paused</c> is not part of it: <c>pgraft pause</c> and <c>resume</c> change that.
/// </summary>
internal static class SpecDocument
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static readonly string[] DurationKeys = ["tick", "failTimeout", "leaseTimeout", "driftMargin", "fenceMargin", "proxyHoldTimeout", "switchoverTimeout"];
    private static readonly string[] SizeKeys = ["maxLagOnFailover", "maxReplicaLag"];
    private static readonly string[] SlotListKeys = ["permanentSlots", "ignoreSlots"];
    private static readonly string[] ListKeys = ["extraHbaLines", .. SlotListKeys];

    /// <summary>Every key the document has, in the order it is printed.</summary>
    public static readonly IReadOnlyList<string> Keys =
        [.. DurationKeys, "mode", "syncStandbyCount", .. SizeKeys, "readOnlyFallbackToPrimary", "postgresParameters", .. ListKeys];

    public static string Render(ClusterSpec spec) => ToJson(spec).ToJsonString(Indented) + "\n";

    public static JsonObject ToJson(ClusterSpec spec)
    {
        var parameters = new JsonObject();
        foreach (var (name, value) in spec.PostgresParameters)
        {
            parameters[name] = value;
        }

        var document = new JsonObject();
        foreach (var key in DurationKeys)
        {
            document[key] = FormatDuration(GetDuration(spec, key));
        }

        document["mode"] = FormatMode(spec.Mode);
        document["syncStandbyCount"] = spec.SyncStandbyCount;
        document["maxLagOnFailover"] = FormatSize(spec.MaxLagOnFailover);
        document["maxReplicaLag"] = FormatSize(spec.MaxReplicaLag);
        document["readOnlyFallbackToPrimary"] = spec.ReadOnlyFallbackToPrimary;
        document["postgresParameters"] = parameters;
        foreach (var key in ListKeys)
        {
            document[key] = new JsonArray([.. GetList(spec, key).Select(v => (JsonNode?)JsonValue.Create(v))]);
        }
        return document;
    }

    /// <summary>Reads a whole edited document onto <paramref name="current"/>: keys left out keep their value; errors are added, not thrown.</summary>
    public static ClusterSpec Parse(ClusterSpec current, string text, List<string> errors)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            errors.Add($"the document is not valid JSON: {ex.Message}");
            return current;
        }

        if (root is not JsonObject document)
        {
            errors.Add("the document must be a JSON object like the one `pgraft show-config` prints");
            return current;
        }

        var spec = current;
        foreach (var (key, node) in document)
        {
            switch (key)
            {
                case "postgresParameters":
                    if (node is not JsonObject parameters)
                    {
                        errors.Add("postgresParameters must be an object of name: \"value\" pairs");
                        break;
                    }

                    var values = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
                    foreach (var (name, value) in parameters)
                    {
                        if (Scalar(value) is { } parameter)
                        {
                            values[name] = parameter;
                        }
                        else
                        {
                            errors.Add($"postgresParameters.{name} must be a string, number or boolean");
                        }
                    }

                    spec = spec with { PostgresParameters = values.ToImmutable() };
                    break;
                case "extraHbaLines" or "permanentSlots" or "ignoreSlots":
                    if (node is not JsonArray items || items.Any(l => l is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
                    {
                        errors.Add(key == "extraHbaLines"
                            ? "extraHbaLines must be an array of strings, one pg_hba.conf line each"
                            : $"{key} must be an array of slot names, e.g. [\"archiver\"]");
                        break;
                    }

                    spec = SetList(spec, key, [.. items.Select(l => l!.GetValue<string>())]);
                    break;
                case "paused":
                    errors.Add("paused is not set here: use `pgraft pause` and `pgraft resume`");
                    break;
                default:
                    if (Scalar(node) is not { } scalar)
                    {
                        errors.Add($"{key} must be a single value, not {node?.GetValueKind().ToString().ToLowerInvariant() ?? "null"}");
                    }
                    else if (Set(spec, key, scalar, out var error) is { } changed)
                    {
                        spec = changed;
                    }
                    else
                    {
                        errors.Add(error!);
                    }

                    break;
            }
        }

        return spec;
    }

    /// <summary>One <c>--set key=value</c>: the changed spec, or null and the reason.</summary>
    public static ClusterSpec? Set(ClusterSpec spec, string key, string value, out string? error)
    {
        error = null;
        var name = Keys.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
        if (name is "postgresParameters" or "extraHbaLines")
        {
            error = $"{name} is not set with --set: use --pg name=value, --remove-pg name, --add-hba 'line', --remove-hba 'line', or edit the document";
            return null;
        }

        if (name is null)
        {
            error = $"'{key}' is not a setting; settings: {string.Join(", ", Keys)}";
            return null;
        }

        if (DurationKeys.Contains(name))
        {
            return TryParseDuration(value, out var duration)
                ? SetDuration(spec, name, duration)
                : Fail($"{name} '{value}' is not a duration: write e.g. 1500ms, 1.5s, 2m", out error);
        }

        if (SlotListKeys.Contains(name))
        {
            // --set permanentSlots=archiver,cdc replaces the list; an empty value clears it.
            return SetList(spec, name, [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]);
        }

        if (SizeKeys.Contains(name))
        {
            return TryParseSize(value, out var bytes)
                ? name == "maxLagOnFailover" ? spec with { MaxLagOnFailover = bytes } : spec with { MaxReplicaLag = bytes }
                : Fail($"{name} '{value}' is not a size: write e.g. 1048576, 512kB, 16MB, 1GB", out error);
        }

        return name switch
        {
            "mode" => ParseMode(value) is { } mode ? spec with { Mode = mode } : Fail($"mode '{value}' is not one of async, sync, sync-strict", out error),
            "syncStandbyCount" => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count)
                ? spec with { SyncStandbyCount = count }
                : Fail($"syncStandbyCount '{value}' is not a whole number", out error),
            _ => bool.TryParse(value, out var flag)
                ? spec with { ReadOnlyFallbackToPrimary = flag }
                : Fail($"readOnlyFallbackToPrimary '{value}' is not true or false", out error),
        };
    }

    /// <summary>The settings that differ, as a patch that leaves everything else (and concurrent edits of it) alone; null when nothing differs.</summary>
    public static SpecPatch? Patch(ClusterSpec before, ClusterSpec after)
    {
        var parameters = ImmutableSortedDictionary.CreateBuilder<string, string?>(StringComparer.Ordinal);
        foreach (var (name, value) in after.PostgresParameters)
        {
            if (!before.PostgresParameters.TryGetValue(name, out var old) || old != value)
            {
                parameters[name] = value;
            }
        }

        foreach (var name in before.PostgresParameters.Keys.Where(n => !after.PostgresParameters.ContainsKey(n)))
        {
            parameters[name] = null;
        }

        var patch = new SpecPatch
        {
            Tick = Changed(before.Tick, after.Tick),
            FailTimeout = Changed(before.FailTimeout, after.FailTimeout),
            LeaseTimeout = Changed(before.LeaseTimeout, after.LeaseTimeout),
            DriftMargin = Changed(before.DriftMargin, after.DriftMargin),
            FenceMargin = Changed(before.FenceMargin, after.FenceMargin),
            ProxyHoldTimeout = Changed(before.ProxyHoldTimeout, after.ProxyHoldTimeout),
            SwitchoverTimeout = Changed(before.SwitchoverTimeout, after.SwitchoverTimeout),
            Mode = Changed(before.Mode, after.Mode),
            SyncStandbyCount = Changed(before.SyncStandbyCount, after.SyncStandbyCount),
            MaxLagOnFailover = Changed(before.MaxLagOnFailover, after.MaxLagOnFailover),
            MaxReplicaLag = Changed(before.MaxReplicaLag, after.MaxReplicaLag),
            PostgresParameters = parameters.Count > 0 ? parameters.ToImmutable() : null,
            ExtraHbaLines = before.ExtraHbaLines.SequenceEqual(after.ExtraHbaLines) ? null : after.ExtraHbaLines,
            PermanentSlots = before.PermanentSlots.SequenceEqual(after.PermanentSlots) ? null : after.PermanentSlots,
            IgnoreSlots = before.IgnoreSlots.SequenceEqual(after.IgnoreSlots) ? null : after.IgnoreSlots,
            ReadOnlyFallbackToPrimary = Changed(before.ReadOnlyFallbackToPrimary, after.ReadOnlyFallbackToPrimary),
        };
        return patch == new SpecPatch() ? null : patch;
    }

    /// <summary>"failTimeout: 1s -> 2s" for every difference, in document order.</summary>
    public static IReadOnlyList<string> Describe(ClusterSpec before, ClusterSpec after)
    {
        var (a, b) = (ToJson(before), ToJson(after));
        var lines = new List<string>();
        foreach (var key in Keys)
        {
            if (key == "postgresParameters")
            {
                var (old, next) = (before.PostgresParameters, after.PostgresParameters);
                foreach (var name in old.Keys.Union(next.Keys).Order(StringComparer.Ordinal))
                {
                    var (was, now) = (old.GetValueOrDefault(name), next.GetValueOrDefault(name));
                    if (was != now)
                    {
                        lines.Add($"postgresParameters.{name}: {was ?? "(not set)"} -> {now ?? "(removed)"}");
                    }
                }
            }
            else if (ListKeys.Contains(key))
            {
                var (old, next) = (GetList(before, key), GetList(after, key));
                lines.AddRange(old.Except(next).Select(l => $"{key}: - {l}"));
                lines.AddRange(next.Except(old).Select(l => $"{key}: + {l}"));
            }
            else if (a[key]!.ToJsonString() != b[key]!.ToJsonString())
            {
                lines.Add($"{key}: {Plain(a[key])} -> {Plain(b[key])}");
            }
        }

        return lines;
    }

    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        text = text.Trim();
        var (number, unit) = SplitUnit(text);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || double.IsInfinity(value))
        {
            return false;
        }

        var milliseconds = unit switch
        {
            "ms" => value,
            "s" => value * 1000,
            "m" or "min" => value * 60_000,
            "h" => value * 3_600_000,
            _ => double.NaN,
        };
        if (double.IsNaN(milliseconds) || milliseconds > TimeSpan.FromDays(1).TotalMilliseconds)
        {
            return false;
        }

        duration = TimeSpan.FromMilliseconds(Math.Round(milliseconds));
        return true;
    }

    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        var (number, unit) = SplitUnit(text.Trim());
        var factor = unit.ToUpperInvariant() switch
        {
            "" or "B" => 1L,
            "KB" => 1L << 10,
            "MB" => 1L << 20,
            "GB" => 1L << 30,
            "TB" => 1L << 40,
            _ => 0,
        };
        if (factor == 0 || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > long.MaxValue / factor)
        {
            return false;
        }

        bytes = value * factor;
        return true;
    }

    public static string FormatDuration(TimeSpan duration) =>
        duration.Ticks % TimeSpan.TicksPerSecond == 0
            ? ((long)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s"
            : ((long)duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";

    public static string FormatSize(long bytes)
    {
        foreach (var (unit, factor) in new[] { ("TB", 1L << 40), ("GB", 1L << 30), ("MB", 1L << 20), ("kB", 1L << 10) })
        {
            if (bytes != 0 && bytes % factor == 0)
            {
                return (bytes / factor).ToString(CultureInfo.InvariantCulture) + unit;
            }
        }

        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    private static string FormatMode(ReplicationMode mode) => mode switch
    {
        ReplicationMode.Async => "async",
        ReplicationMode.Sync => "sync",
        _ => "sync-strict",
    };

    private static ReplicationMode? ParseMode(string text) => text.Trim().ToLowerInvariant() switch
    {
        "async" => ReplicationMode.Async,
        "sync" => ReplicationMode.Sync,
        "sync-strict" or "syncstrict" or "sync_strict" => ReplicationMode.SyncStrict,
        _ => null,
    };

    private static (string Number, string Unit) SplitUnit(string text)
    {
        var end = text.Length;
        while (end > 0 && char.IsAsciiLetter(text[end - 1]))
        {
            end--;
        }

        return (text[..end].Trim(), text[end..]);
    }

    private static string? Scalar(JsonNode? node) => node is JsonValue value
        ? value.GetValueKind() switch
        {
            JsonValueKind.String => value.GetValue<string>(),
            JsonValueKind.Number => value.ToJsonString(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        }
        : null;

    private static ImmutableList<string> GetList(ClusterSpec spec, string key) => key switch
    {
        "extraHbaLines" => spec.ExtraHbaLines,
        "permanentSlots" => spec.PermanentSlots,
        _ => spec.IgnoreSlots,
    };

    private static ClusterSpec SetList(ClusterSpec spec, string key, ImmutableList<string> values) => key switch
    {
        "extraHbaLines" => spec with { ExtraHbaLines = values },
        "permanentSlots" => spec with { PermanentSlots = values },
        _ => spec with { IgnoreSlots = values },
    };

    private static string Plain(JsonNode? node) => Scalar(node) ?? node?.ToJsonString() ?? "null";

    private static TimeSpan GetDuration(ClusterSpec spec, string key) => key switch
    {
        "tick" => spec.Tick,
        "failTimeout" => spec.FailTimeout,
        "leaseTimeout" => spec.LeaseTimeout,
        "driftMargin" => spec.DriftMargin,
        "fenceMargin" => spec.FenceMargin,
        "proxyHoldTimeout" => spec.ProxyHoldTimeout,
        _ => spec.SwitchoverTimeout,
    };

    private static ClusterSpec SetDuration(ClusterSpec spec, string key, TimeSpan value) => key switch
    {
        "tick" => spec with { Tick = value },
        "failTimeout" => spec with { FailTimeout = value },
        "leaseTimeout" => spec with { LeaseTimeout = value },
        "driftMargin" => spec with { DriftMargin = value },
        "fenceMargin" => spec with { FenceMargin = value },
        "proxyHoldTimeout" => spec with { ProxyHoldTimeout = value },
        _ => spec with { SwitchoverTimeout = value },
    };

    private static T? Changed<T>(T before, T after)
        where T : struct => EqualityComparer<T>.Default.Equals(before, after) ? null : after;

    private static ClusterSpec? Fail(string message, out string? error)
    {
        error = message;
        return null;
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgRaft.Node.Cluster;

/// <summary>A PostgreSQL WAL position (pg_lsn), written as PostgreSQL writes it: <c>16/B374D848</c>.</summary>
[JsonConverter(typeof(LsnJsonConverter))]
internal readonly record struct Lsn(ulong Value) : IComparable<Lsn>
{
    public static Lsn Zero => default;

    public int CompareTo(Lsn other) => Value.CompareTo(other.Value);

    public static bool operator <(Lsn left, Lsn right) => left.Value < right.Value;
    public static bool operator >(Lsn left, Lsn right) => left.Value > right.Value;
    public static bool operator <=(Lsn left, Lsn right) => left.Value <= right.Value;
    public static bool operator >=(Lsn left, Lsn right) => left.Value >= right.Value;

    public static Lsn Max(Lsn a, Lsn b) => a >= b ? a : b;

    /// <summary>Bytes from <paramref name="other"/> up to this position (0 when this is not ahead).</summary>
    public ulong BytesAhead(Lsn other) => Value > other.Value ? Value - other.Value : 0;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Value >> 32:X}/{Value & 0xFFFF_FFFF:X}");

    public static bool TryParse(string? text, out Lsn lsn)
    {
        lsn = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == text.Length - 1 || slash > 8 || text.Length - slash - 1 > 8)
        {
            return false;
        }

        if (!uint.TryParse(text.AsSpan(0, slash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var high)
            || !uint.TryParse(text.AsSpan(slash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var low))
        {
            return false;
        }

        lsn = new Lsn(((ulong)high << 32) | low);
        return true;
    }

    public static Lsn Parse(string text) =>
        TryParse(text, out var lsn)
            ? lsn
            : throw new FormatException($"'{text}' is not a WAL position; expected PostgreSQL's form, two hexadecimal numbers such as 0/5000060.");
}

internal sealed class LsnJsonConverter : JsonConverter<Lsn>
{
    public override Lsn Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException("a WAL position must be a string such as \"0/5000060\"");
        }

        var text = reader.GetString();
        return Lsn.TryParse(text, out var lsn) ? lsn : throw new JsonException($"'{text}' is not a WAL position (expected e.g. \"0/5000060\")");
    }

    public override void Write(Utf8JsonWriter writer, Lsn value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString());
}

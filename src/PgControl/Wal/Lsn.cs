using System.Globalization;
using System.Text.Json.Serialization;

namespace PgRaft.PgControl.Wal;

/// <summary>A WAL position (pg_lsn), printed and parsed in PostgreSQL's <c>X/X</c> form (in JSON too: <c>"16/B374D848"</c>).</summary>
[JsonConverter(typeof(LsnJsonConverter))]
internal readonly record struct Lsn(ulong Value) : IComparable<Lsn>
{
    public static readonly Lsn Zero = new(0);

    public static Lsn Parse(string text) =>
        TryParse(text, out var lsn)
            ? lsn
            : throw new FormatException($"'{text}' is not a WAL position; expected two hexadecimal numbers separated by '/', such as 0/5000060.");

    public static bool TryParse(string? text, out Lsn lsn)
    {
        lsn = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        var slash = text.IndexOf('/');
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

    public int CompareTo(Lsn other) => Value.CompareTo(other.Value);

    public static bool operator <(Lsn left, Lsn right) => left.Value < right.Value;
    public static bool operator >(Lsn left, Lsn right) => left.Value > right.Value;
    public static bool operator <=(Lsn left, Lsn right) => left.Value <= right.Value;
    public static bool operator >=(Lsn left, Lsn right) => left.Value >= right.Value;

    /// <summary>Bytes of WAL from <paramref name="older"/> to this position (0 when this one is not newer).</summary>
    public ulong BytesSince(Lsn older) => Value > older.Value ? Value - older.Value : 0;

    public static Lsn Max(Lsn a, Lsn b) => a.Value >= b.Value ? a : b;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{(uint)(Value >> 32):X}/{(uint)Value:X}");
}

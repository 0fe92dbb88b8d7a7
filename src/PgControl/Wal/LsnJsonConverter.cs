using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgRaft.PgControl.Wal;

/// <summary>Writes an <see cref="Lsn"/> as PostgreSQL's text, e.g. <c>"0/5000060"</c>, and refuses anything else.</summary>
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

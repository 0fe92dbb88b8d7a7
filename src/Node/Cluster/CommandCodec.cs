using System.Text.Json;

namespace PgRaft.Node.Cluster;

/// <summary>Encodes commands for the log and decodes them back, turning garbage into a clear error instead of an exception.</summary>
internal static class CommandCodec
{
    public static byte[] Encode(ClusterCommand command) =>
        JsonSerializer.SerializeToUtf8Bytes(command, ClusterJsonContext.Default.ClusterCommand);

    public static bool TryDecode(ReadOnlySpan<byte> bytes, out ClusterCommand? command, out string? error)
    {
        command = null;
        error = null;
        try
        {
            command = JsonSerializer.Deserialize(bytes, ClusterJsonContext.Default.ClusterCommand);
        }
        catch (JsonException e)
        {
            error = $"not a cluster command: {e.Message}";
            return false;
        }
        catch (NotSupportedException e)
        {
            // Raised for an unknown or missing "type" discriminator on an abstract base.
            error = $"not a cluster command (unknown or missing type): {e.Message}";
            return false;
        }
        catch (ArgumentException e)
        {
            error = $"not a cluster command (invalid encoding): {e.Message}";
            return false;
        }

        if (command is null)
        {
            error = "not a cluster command: the entry decodes to null";
            return false;
        }

        return true;
    }
}

using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace PgRaft.Node.Configuration;

/// <summary>
/// Builds <see cref="NodeOptions"/> from a JSON file, then <c>PGRAFT_*</c> environment variables, then
/// <c>--Section:Key=value</c> overrides, refusing unknown keys and validating the result.
/// </summary>
internal static class NodeConfigurationLoader
{
    public const string EnvironmentPrefix = "PGRAFT_";

    public static NodeOptions Load(string? jsonPath, IDictionary environment, IEnumerable<KeyValuePair<string, string?>> overrides)
    {
        var problems = new List<string>();
        var builder = new ConfigurationBuilder();
        if (jsonPath is not null)
        {
            if (!File.Exists(jsonPath))
            {
                throw new ConfigurationException([$"config file '{jsonPath}' does not exist; pass --config with the path of the node's JSON file"]);
            }

            try
            {
                using var stream = File.OpenRead(jsonPath);
                using var _ = JsonDocument.Parse(stream, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            }
            catch (JsonException ex)
            {
                throw new ConfigurationException([$"config file '{jsonPath}' is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}): fix the syntax there"]);
            }
            catch (UnauthorizedAccessException)
            {
                throw new ConfigurationException([$"config file '{jsonPath}' cannot be read: give the user running pgraft read access"]);
            }

            builder.AddJsonFile(Path.GetFullPath(jsonPath), optional: false, reloadOnChange: false);
        }

        builder.AddInMemoryCollection(FromEnvironment(environment));
        builder.AddInMemoryCollection(overrides);
        var configuration = builder.Build();

        CheckKeys(configuration, typeof(NodeOptions), "", problems);
        var options = new NodeOptions();
        try
        {
            configuration.Bind(options);
        }
        catch (InvalidOperationException ex)
        {
            problems.Add(ex.Message);
        }

        if (problems.Count == 0)
        {
            problems.AddRange(NodeOptionsValidator.Validate(options));
        }

        return problems.Count == 0 ? options : throw new ConfigurationException(problems);
    }

    private static IEnumerable<KeyValuePair<string, string?>> FromEnvironment(IDictionary environment)
    {
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is string name && name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
            {
                var key = name[EnvironmentPrefix.Length..].Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal);
                yield return new(key, entry.Value as string);
            }
        }
    }

    private static void CheckKeys(IConfiguration section, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] Type type, string path, List<string> problems)
    {
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var child in section.GetChildren())
        {
            var childPath = path.Length == 0 ? child.Key : path + ":" + child.Key;
            if (!properties.TryGetValue(child.Key, out var property))
            {
                problems.Add($"unknown setting '{childPath}'; known settings here: {string.Join(", ", properties.Keys.Order(StringComparer.Ordinal))}");
                continue;
            }

            var propertyType = property.PropertyType;
            if (propertyType.IsGenericType && propertyType.GetGenericTypeDefinition() == typeof(List<>))
            {
                var elementType = propertyType.GetGenericArguments()[0];
                if (elementType != typeof(string))
                {
                    foreach (var item in child.GetChildren())
                    {
                        CheckKeys(item, ElementType(elementType), childPath + ":" + item.Key, problems);
                    }
                }
            }
            else if (propertyType.IsClass && propertyType != typeof(string))
            {
                CheckKeys(child, ClassType(propertyType), childPath, problems);
            }
        }
    }

    [return: DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)]
    [UnconditionalSuppressMessage("Trimming", "IL2073", Justification = "Option types are kept by the configuration binder.")]
    private static Type ElementType(Type type) => type;

    [return: DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)]
    [UnconditionalSuppressMessage("Trimming", "IL2073", Justification = "Option types are kept by the configuration binder.")]
    private static Type ClassType(Type type) => type;
}

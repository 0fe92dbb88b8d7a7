using System.Collections.Immutable;

namespace PgRaft.Node.Cluster;

/// <summary>Structural equality for the immutable collections the cluster records hold (records compare them by reference).</summary>
internal static class CollectionEquality
{
    public static bool SetEquals<T>(ImmutableSortedSet<T> a, ImmutableSortedSet<T> b) =>
        ReferenceEquals(a, b) || a.SetEquals(b);

    public static bool SequenceEquals<T>(ImmutableList<T> a, ImmutableList<T> b) =>
        ReferenceEquals(a, b) || (a.Count == b.Count && a.SequenceEqual(b));

    public static bool DictionaryEquals<TKey, TValue>(ImmutableSortedDictionary<TKey, TValue> a, ImmutableSortedDictionary<TKey, TValue> b)
        where TKey : notnull
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (key, value) in a)
        {
            if (!b.TryGetValue(key, out var other) || !EqualityComparer<TValue>.Default.Equals(value, other))
            {
                return false;
            }
        }

        return true;
    }
}

namespace PgRaft.Node;

internal static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("pgraft: the node is not built yet (issue 5).");
        return args.Length == 0 ? 2 : 2;
    }
}

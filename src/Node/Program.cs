using System.CommandLine;
using PgRaft.Node.Cli;

namespace PgRaft.Node;

internal static class Program
{
    public static Task<int> Main(string[] args) => PgRaftCommandLine.Build().Parse(args).InvokeAsync();
}

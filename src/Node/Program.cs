using System.CommandLine;
using PgRaft.Node.Cli;

namespace PgRaft.Node;

internal static class Program
{
    public static Task<int> Main(string[] args) =>
        args is ["guard", .. var guardArgs]
            // The fencing guard takes its arguments verbatim (a postmaster command line follows "--").
            ? PgControl.Guard.PostgresGuard.RunAsync(guardArgs, CancellationToken.None)
            : PgRaftCommandLine.Build().Parse(args).InvokeAsync();
}

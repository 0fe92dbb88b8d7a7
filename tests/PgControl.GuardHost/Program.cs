using System.Globalization;
using PgRaft.PgControl.Guard;
using PgRaft.PgControl.Instance;

// Test stand-in for the pgraft executable:
//   guard [--kill-after-ms N] -- <postmaster command...>     runs the fencing guard (as `pgraft guard` will)
//   supervise <dataDir> <port> <binDir> <osUser|-> <superPasswordFile> <replPasswordFile> <leaseMs> <renewMs> <guard command...>
//       plays the keeper of a primary: starts PostgreSQL under the guard with a lease, prints
//       "ready <guardPid> <postmasterPid>", then renews the lease every renewMs until it is killed.
if (args.Length > 0 && args[0] == "guard")
{
    return await PostgresGuard.RunAsync(args[1..], CancellationToken.None);
}
if (args.Length >= 10 && args[0] == "supervise")
{
    var leaseMs = int.Parse(args[7], CultureInfo.InvariantCulture);
    var renewMs = int.Parse(args[8], CultureInfo.InvariantCulture);
    var options = new PostgresOptions
    {
        DataDirectory = args[1],
        Port = int.Parse(args[2], CultureInfo.InvariantCulture),
        BinDirectory = args[3],
        OsUser = args[4] == "-" ? null : args[4],
        Superuser = PostgresCredentials.FromFile("postgres", args[5]),
        Replication = PostgresCredentials.FromFile("replicator", args[6]),
        ApplicationName = "supervised",
        GuardCommand = args[9..],
    };
    var instance = new PostgresInstance(options);
    // A generous first lease covers this fresh process's slow start; the renewal right after sets the real one.
    await instance.StartAsync(ServerRole.Primary, TimeSpan.FromSeconds(60));
    await instance.RenewLeaseAsync(TimeSpan.FromMilliseconds(leaseMs), CancellationToken.None);
    Console.WriteLine($"ready {instance.GuardPid} {instance.PostmasterPid}");
    while (instance.IsRunning)
    {
        await Task.Delay(renewMs);
        await instance.RenewLeaseAsync(TimeSpan.FromMilliseconds(leaseMs), CancellationToken.None);
    }
    return 1;
}
await Console.Error.WriteLineAsync("usage: guard [--kill-after-ms N] -- <command...> | supervise <dataDir> <port> <binDir> <osUser|-> <superPwFile> <replPwFile> <leaseMs> <renewMs> <guard command...>");
return 2;

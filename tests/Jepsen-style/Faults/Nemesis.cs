using System.Globalization;
using PgRaft.JepsenStyle.Harness;
using PgRaft.JepsenStyle.Lab;

namespace PgRaft.JepsenStyle.Faults;

/// <summary>A fault in force: what it hit, and how to undo it.</summary>
internal sealed record ActiveFault(string Description, int? Target, Func<CancellationToken, Task> HealAsync);

/// <summary>Injects the faults of a <see cref="FaultPlan"/> into a running lab cluster; every fault it starts can be healed.</summary>
internal sealed class Nemesis(LabCluster cluster, NetworkFaults network)
{
    public async Task<ActiveFault> InjectAsync(FaultPlan plan, Roles roles, CancellationToken cancellationToken)
    {
        switch (plan.Kind)
        {
            case FaultKind.IsolateNode:
            {
                var target = roles.Resolve(plan);
                await network.IsolateAsync(target, cancellationToken);
                return new ActiveFault($"cable of {roles.Describe(target)} pulled", target, network.HealAsync);
            }

            case FaultKind.PartitionPrimary:
                await network.PartitionAsync([roles.Primary], roles.Standbys, cancellationToken);
                return new ActiveFault($"{roles.Describe(roles.Primary)} | {string.Join(", ", roles.Standbys.Select(roles.Describe))}", roles.Primary, network.HealAsync);

            case FaultKind.PartitionStandbys:
                await network.PartitionAsync([roles.Standbys[0]], roles.Standbys.Skip(1).ToList(), cancellationToken);
                return new ActiveFault($"{string.Join(" | ", roles.Standbys.Select(roles.Describe))}", null, network.HealAsync);

            case FaultKind.OneWayDrop:
            {
                var target = roles.Resolve(plan);
                foreach (var other in cluster.NodeNumbers.Where(n => n != target))
                {
                    await (plan.IntoTarget
                        ? network.DropAsync(from: other, to: target, cancellationToken)
                        : network.DropAsync(from: target, to: other, cancellationToken));
                }

                var description = plan.IntoTarget ? $"nothing reaches {roles.Describe(target)}" : $"nothing from {roles.Describe(target)} reaches the others";
                return new ActiveFault(description, target, network.HealAsync);
            }

            case FaultKind.KillPgraft:
            {
                var target = roles.Resolve(plan);
                var node = cluster.Node(target);
                await node.KillAsync(cancellationToken);
                return new ActiveFault($"pgraft of {roles.Describe(target)} killed (-9)", target, _ =>
                {
                    node.Start();
                    return Task.CompletedTask;
                });
            }

            case FaultKind.PausePgraft:
            {
                var target = roles.Resolve(plan);
                var node = cluster.Node(target);
                await node.SignalAsync("STOP", cancellationToken);
                return new ActiveFault($"pgraft of {roles.Describe(target)} stopped (SIGSTOP)", target, ct => node.SignalAsync("CONT", ct));
            }

            case FaultKind.KillPostmaster:
            {
                var target = roles.Resolve(plan);
                var pid = cluster.Node(target).PostmasterPid() ?? throw new InvalidOperationException($"node{target} has no running postmaster to kill");
                await ProcessRunner.RunAsync("kill", ["-KILL", pid.ToString(CultureInfo.InvariantCulture)], cancellationToken);
                return new ActiveFault($"postmaster of {roles.Describe(target)} killed (-9)", target, _ => Task.CompletedTask);
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(plan), plan.Kind, "unknown fault kind");
        }
    }

    /// <summary>
    /// True when the fault must cost the primary its lease while this test process can still reach its PostgreSQL:
    /// a client connected straight to it must then lose it.
    /// </summary>
    public static bool FencesReachablePrimary(FaultPlan plan, Roles roles, int? target) =>
        target == roles.Primary && plan.Kind is FaultKind.PartitionPrimary or FaultKind.OneWayDrop or FaultKind.KillPgraft or FaultKind.PausePgraft;
}

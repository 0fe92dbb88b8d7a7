using System.Net;
using PgRaft.Proxy.Forwarding;
using PgRaft.Proxy.Listening;
using PgRaft.Proxy.Routing;
using PgRaft.ProxyHost;

// Runs one proxy listener against a fixed target, for benchmarks and manual tests, before the node exists.
//   PgRaft.ProxyHost --listen 127.0.0.1:26500 --target 127.0.0.1:5433 [--mode pooled|splice|epoll] [--epoll-threads N] [--busy-poll-us N] [--pin-threads true|false] [--thread-nice N] [--local-socket PATH (the target is reached through this Unix socket)] (defaults: the library's) [--max-connections N]
// Standard input changes the target while it runs: "target HOST:PORT", "none" (hold new clients), "quit".
var arguments = HostArguments.Parse(args);
var routing = new ProxyRoutingPublisher(new ProxyRoutingSnapshot(arguments.Target, true, [], false));
var defaults = new ProxyListenerOptions { Role = ProxyRole.ReadWrite, Listen = arguments.Listen };
var options = new ProxyListenerOptions
{
    Role = ProxyRole.ReadWrite,
    Listen = arguments.Listen,
    Forwarding = arguments.Mode,
    MaxConnections = arguments.MaxConnections,
    EpollThreads = arguments.EpollThreads ?? ProxyListenerOptions.DefaultEpollThreads,
    EpollBusyPoll = arguments.BusyPollMicroseconds is { } busy ? TimeSpan.FromMicroseconds(busy) : defaults.EpollBusyPoll,
    EpollPinThreads = arguments.PinThreads ?? defaults.EpollPinThreads,
    EpollPinMinConnections = arguments.PinMinConnections ?? defaults.EpollPinMinConnections,
    EpollThreadNice = arguments.ThreadNice ?? defaults.EpollThreadNice,
    LocalPostgres = arguments.LocalSocket is null ? null : arguments.Target,
    LocalPostgresSocketPath = arguments.LocalSocket,
};
options.Validate();
var logger = new StderrLogger();
await using var listener = new ProxyListener(options, routing, logger);
listener.Start();
Console.WriteLine($"listening {listener.LocalEndPoint} -> {arguments.Target?.ToString() ?? "none"} ({arguments.Mode})");

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();

_ = Task.Run(
    async () =>
    {
        while (await Console.In.ReadLineAsync(stop.Token) is { } line)
        {
            var command = line.Trim();
            if (command == "quit")
            {
                break;
            }

            if (command == "none")
            {
                routing.Publish(routing.Current with { Primary = null });
            }
            else if (command.StartsWith("target ", StringComparison.Ordinal))
            {
                routing.Publish(routing.Current with { Primary = ProxyEndpoint.Parse(command["target ".Length..].Trim()) });
            }
            else if (command == "stats")
            {
                var c = listener.Counters;
                Console.WriteLine($"active={c.Active} total={c.Total} toServer={c.BytesToServer} toClient={c.BytesToClient} refused={c.Refused} held={c.Held} holdTimeouts={c.HoldTimeouts} connectFailures={c.ConnectFailures} cut={c.Cut}");
                continue;
            }
            else if (command.Length > 0)
            {
                Console.Error.WriteLine("commands: target HOST:PORT | none | stats | quit");
                continue;
            }

            Console.WriteLine($"routing version {routing.Current.Version}: {routing.Current.Primary?.ToString() ?? "none"}");
        }

        // End of input (or quit) does not stop a host started in the background with </dev/null.
        if (Console.IsInputRedirected && !arguments.StopOnEndOfInput)
        {
            return;
        }

        await stop.CancelAsync();
    },
    stop.Token);

try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
    // Normal shutdown.
}

await listener.StopAsync(CancellationToken.None);
var counters = listener.Counters;
Console.WriteLine($"stopped: total={counters.Total} toServer={counters.BytesToServer} toClient={counters.BytesToClient}");

namespace PgRaft.ProxyHost
{
    internal sealed record HostArguments(IPEndPoint Listen, ProxyEndpoint? Target, ForwardingMode Mode, int MaxConnections, bool StopOnEndOfInput, int? EpollThreads, int? BusyPollMicroseconds, bool? PinThreads, int? ThreadNice, string? LocalSocket, int? PinMinConnections)
    {
        public static HostArguments Parse(string[] args)
        {
            IPEndPoint? listen = null;
            ProxyEndpoint? target = null;
            var mode = ForwardingMode.Epoll;
            var maxConnections = 1000;
            var stopOnEnd = false;
            int? epollThreads = null;
            int? busyPoll = null;
            bool? pin = null;
            int? nice = null;
            string? localSocket = null;
            int? pinMin = null;
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
                switch (args[i])
                {
                    case "--listen":
                        listen = IPEndPoint.Parse(Next());
                        break;
                    case "--target":
                        target = ProxyEndpoint.Parse(Next());
                        break;
                    case "--mode":
                        mode = Enum.Parse<ForwardingMode>(Next(), ignoreCase: true);
                        break;
                    case "--max-connections":
                        maxConnections = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    case "--epoll-threads":
                        epollThreads = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    case "--busy-poll-us":
                        busyPoll = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    case "--pin-threads":
                        pin = bool.Parse(Next());
                        break;
                    case "--thread-nice":
                        nice = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    case "--pin-min-connections":
                        pinMin = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    case "--local-socket":
                        localSocket = Next();
                        break;
                    case "--stop-on-eof":
                        stopOnEnd = true;
                        break;
                    default:
                        throw new ArgumentException($"Unknown argument {args[i]}; use --listen IP:PORT --target HOST:PORT [--mode pooled|splice|epoll] [--epoll-threads N] [--busy-poll-us N] [--pin-threads true|false] [--pin-min-connections N] [--thread-nice N] [--local-socket PATH] [--max-connections N] [--stop-on-eof].");
                }
            }

            return new HostArguments(listen ?? throw new ArgumentException("--listen IP:PORT is required."), target, mode, maxConnections, stopOnEnd, epollThreads, busyPoll, pin, nice, localSocket, pinMin);
        }
    }
}

using System.Net;
using System.Net.Sockets;

namespace PgRaft.Proxy.Tests.Fixtures;

/// <summary>Free loopback ports from this project's range (26000–26499; 26500+ is the benchmark's).</summary>
internal static class TestPorts
{
    private const int First = 26000;
    private const int Count = 500;
    private static int _next = Random.Shared.Next(Count);

    public static int Next()
    {
        for (var attempt = 0; attempt < Count; attempt++)
        {
            var port = First + (int)((uint)Interlocked.Increment(ref _next) % Count);
            if (IsFree(port))
            {
                return port;
            }
        }

        throw new InvalidOperationException($"No free loopback port in {First}-{First + Count - 1}.");
    }

    public static IPEndPoint NextEndPoint() => new(IPAddress.Loopback, Next());

    private static bool IsFree(int port)
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

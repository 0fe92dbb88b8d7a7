using System.Net;
using System.Text;
using PgRaft.Raft.Core;
using PgRaft.Raft.Hosting;
using PgRaft.Raft.Storage;
using PgRaft.Raft.Tests.Transport;
using PgRaft.Raft.Transport;
using Xunit.Abstractions;

namespace PgRaft.Raft.Tests.Hosting;

/// <summary>Real FileRaftStorage that starts failing on demand (a disk that went read-only).</summary>
internal sealed class FailingStorage(IRaftStorage inner) : IRaftStorage
{
    public volatile bool Fail;

    public PersistedState Load() => inner.Load();

    public void Persist(Snapshot? snapshot, IReadOnlyList<LogEntry> entries, HardState? hardState)
    {
        if (Fail)
        {
            throw new IOException("simulated: disk is read-only");
        }

        inner.Persist(snapshot, entries, hardState);
    }

    public void InstallSnapshot(Snapshot snapshot) => inner.InstallSnapshot(snapshot);

    public void Dispose() => inner.Dispose();
}

public sealed class RaftHostFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_storage_failure_stops_the_node_fails_callers_and_keeps_what_was_stored()
    {
        await using var cluster = new TestCluster(output, "solo");
        var options = cluster.Options("solo", ["solo"]);
        var storage = new FailingStorage(new FileRaftStorage(options.DataDirectory, new CapturingLogger<FileRaftStorage>()));
        var transport = new TcpRaftTransport(options.TransportOptions(), new CapturingLogger<TcpRaftTransport>());
        var stateMachine = new ListStateMachine();
        var host = new RaftHost(
            options, storage, transport, stateMachine, cluster.Logs.CreateLogger("host"), TimeProvider.System,
            persisted => new RaftCoreNode(new RaftCore(RaftHost.CoreOptions(options), persisted, new Random(1))));
        Exception? faulted = null;
        host.Faulted += (_, e) => faulted = e;
        await host.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => host.IsLeader, TimeSpan.FromSeconds(10), "single node leads");
        var kept = (long)(await host.ProposeAsync(Encoding.UTF8.GetBytes("kept"), CancellationToken.None))!;

        storage.Fail = true;
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.ProposeAsync(Encoding.UTF8.GetBytes("lost"), CancellationToken.None));
        Assert.Contains("read-only", error.Message, StringComparison.Ordinal);
        await Eventually.TrueAsync(() => faulted is not null, TimeSpan.FromSeconds(5), "Faulted raised");
        Assert.Same(faulted, host.Fault);
        await Assert.ThrowsAsync<InvalidOperationException>(() => host.ReadIndexAsync(CancellationToken.None));
        await host.StopAsync(CancellationToken.None);

        using var reopened = new FileRaftStorage(options.DataDirectory, new CapturingLogger<FileRaftStorage>());
        var state = reopened.Load();
        Assert.Contains(state.Entries, e => e.Index == kept && Encoding.UTF8.GetString(e.Data.Span[1..]) == "kept");
        Assert.DoesNotContain(state.Entries, e => e.Data.Length > 1 && Encoding.UTF8.GetString(e.Data.Span[1..]) == "lost");
    }

    [Fact]
    public async Task Operations_before_start_or_after_stop_fail_clearly()
    {
        await using var cluster = new TestCluster(output, "solo");
        var options = cluster.Options("solo", ["solo"]);
        var host = new RaftHost(options, new ListStateMachine(), cluster.Logs);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => host.ProposeAsync(new byte[1], CancellationToken.None));
        await host.StartAsync(CancellationToken.None);
        await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(CancellationToken.None));
        var tooBig = await Assert.ThrowsAsync<ArgumentException>(() => host.ProposeAsync(new byte[(options.MaxFrameBytes / 2) + 1], CancellationToken.None));
        Assert.Contains("MaxFrameBytes", tooBig.Message, StringComparison.Ordinal);
        await host.StopAsync(CancellationToken.None);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => host.ProposeAsync(new byte[1], CancellationToken.None));
        await host.DisposeAsync();
    }

    [Fact]
    public async Task A_node_that_cannot_win_an_election_refuses_proposals_and_honours_cancellation()
    {
        // n1 bootstraps a two-voter cluster whose other voter never starts: n1 cannot elect itself, so proposals are refused.
        await using var cluster = new TestCluster(output, "n1", "n2");
        var host = await cluster.StartAsync(cluster.Options("n1", ["n1", "n2"]));
        await Task.Delay(300);
        Assert.False(host.IsLeader);
        var error = await Assert.ThrowsAsync<NotLeaderException>(() => host.ProposeAsync(new byte[1], CancellationToken.None));
        Assert.Null(error.LeaderId);
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => host.ReadIndexAsync(cts.Token));
    }
}

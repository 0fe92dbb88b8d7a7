using System.Text.Json;
using PgRaft.Node.Api;
using PgRaft.Node.Cluster;
using PgRaft.Node.Leader;
using PgRaft.Node.Sentinel;

namespace PgRaft.Node.Tests.Api;

public sealed class ReportWireTests
{
    [Fact]
    public void The_echo_and_the_ack_s_clock_reading_cross_the_wire_and_a_keeper_cannot_date_its_own_report()
    {
        var report = new KeeperReport
        {
            NodeId = "node2",
            Role = PgRole.Standby,
            ReceiveLsn = new Lsn(0x5000000),
            ObservedAfter = new ClockEcho(new LeaderClockReading("node1", 7, TimeSpan.FromTicks(123_456_789)), TimeSpan.FromMilliseconds(231.5)),
            ObservedAt = TimeSpan.FromHours(1),
        };

        var read = JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(report, ApiJsonContext.Default.KeeperReport), ApiJsonContext.Default.KeeperReport)!;

        Assert.Equal(report.ObservedAfter, read.ObservedAfter);
        Assert.Null(read.ObservedAt);
        var forged = JsonSerializer.Deserialize("""{"nodeId":"node2","observedAt":"01:00:00"}""", ApiJsonContext.Default.KeeperReport)!;
        Assert.Null(forged.ObservedAt);

        var ack = new ReportAck("node1", [], new LeaderClockReading("node1", 7, TimeSpan.FromTicks(987_654_321)));
        var ackRead = JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(ack, ApiJsonContext.Default.ReportAck), ApiJsonContext.Default.ReportAck)!;
        Assert.Equal(ack.Clock, ackRead.Clock);

        // An ack without a reading (a leader from before report dating) leaves the next report undated.
        Assert.Null(JsonSerializer.Deserialize("""{"leader":"node1","nodes":[]}""", ApiJsonContext.Default.ReportAck)!.Clock);
    }
}

using PgRaft.Node.Hosting;

namespace PgRaft.Node.Tests.Hosting;

public sealed class LeaderContactTests
{
    private static TimeSpan Ms(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    [Fact]
    public void A_leader_handover_is_not_lost_contact_but_a_longer_silence_is()
    {
        var contact = new LeaderContact(Ms(250));
        Assert.False(contact.Observe(null, Ms(0)), "a node that never knew a leader is not in contact");
        Assert.True(contact.Observe("node1", Ms(100)));

        // The election of a handover: a few milliseconds without a known leader.
        Assert.True(contact.Observe(null, Ms(130)));
        Assert.True(contact.Observe(null, Ms(349)));
        Assert.True(contact.Observe("node3", Ms(360)));

        // No leader for longer than the grace: out of contact until one is known again.
        Assert.True(contact.Observe(null, Ms(600)));
        Assert.False(contact.Observe(null, Ms(610)));
        Assert.False(contact.Observe(null, Ms(2000)));
        Assert.True(contact.Observe("node2", Ms(2010)));
    }
}

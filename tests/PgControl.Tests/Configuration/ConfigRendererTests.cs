using FsCheck;
using FsCheck.Fluent;
using PgRaft.PgControl.Configuration;

namespace PgRaft.PgControl.Tests.Configuration;

public sealed class ConfigRendererTests
{
    private static readonly ConfigRenderer.ServerSettings Server = new("127.0.0.1", 5433, null, "ANY 1 (\"a\", \"b\")", "host=x port=1", "slot_a");

    [Fact]
    public void Any_single_line_value_survives_quoting_and_reading_back()
    {
        var values = ArbMap.Default.ArbFor<NonNull<string>>().Filter(s => !s.Get.Any(c => c is '\n' or '\r' or '\0'));
        Prop.ForAll(values, value =>
        {
            var parameters = ConfigRenderer.Parameters(Server, new Dictionary<string, string> { ["application.setting"] = value.Get });
            var parsed = ConfigRenderer.ParseInclude(ConfigRenderer.RenderInclude(parameters));
            return parsed["application.setting"] == value.Get && parsed.Count == parameters.Count;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Managed_settings_come_last_and_defaults_yield_to_the_user()
    {
        var parameters = ConfigRenderer.Parameters(Server, new Dictionary<string, string> { ["WAL_KEEP_SIZE"] = "1GB", ["work_mem"] = "8MB" });
        var names = parameters.Select(p => p.Key).ToList();
        Assert.Single(names, n => n == "wal_keep_size");
        Assert.Equal("1GB", parameters.Single(p => p.Key == "wal_keep_size").Value);
        Assert.True(names.IndexOf("work_mem") < names.IndexOf("port"));
        Assert.Equal("slot_a", parameters.Single(p => p.Key == "primary_slot_name").Value);
        Assert.Equal("ANY 1 (\"a\", \"b\")", parameters.Single(p => p.Key == "synchronous_standby_names").Value);
        Assert.Contains("synchronous_standby_names = 'ANY 1 (\"a\", \"b\")'", ConfigRenderer.RenderInclude(parameters), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.1/32")]
    [InlineData("::1", "::1/128")]
    [InlineData("10.0.0.0/8", "10.0.0.0/8")]
    [InlineData("db1.example.com", "db1.example.com")]
    public void Member_addresses_become_hba_addresses(string member, string expected) =>
        Assert.Equal(expected, ConfigRenderer.HbaAddress(member));

    [Theory]
    [InlineData("")]
    [InlineData("10.0.0.1 trust")]
    [InlineData("a\"b")]
    public void Bad_member_addresses_are_refused(string member) =>
        Assert.Equal(PgControlError.InvalidArgument, Assert.Throws<PgControlException>(() => ConfigRenderer.HbaAddress(member)).Error);

    [Fact]
    public void An_extra_hba_line_with_a_line_break_is_refused() =>
        Assert.Throws<PgControlException>(() => ConfigRenderer.RenderHba("replicator", [], ["host all all 0.0.0.0/0 trust\nlocal all all trust"], false));

    [Fact]
    public void Conninfo_values_are_quoted_and_escaped()
    {
        var text = ConfigRenderer.ConnInfo([new("host", "10.0.0.1"), new("passfile", "/tmp/a b/it's\\x"), new("application_name", "node-1")]);
        Assert.Equal("host=10.0.0.1 passfile='/tmp/a b/it\\'s\\\\x' application_name=node-1", text);
    }

    [Fact]
    public void Pass_file_lines_escape_colons_and_backslashes() =>
        Assert.Equal("*:*:*:rep\\:l:pa\\\\ss\\:word", ConfigRenderer.PassFileLine("rep:l", "pa\\ss:word"));
}

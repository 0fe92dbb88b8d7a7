using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Instance;
using PgRaft.PgControl.Tests.Support;

namespace PgRaft.PgControl.Tests.Instance;

public sealed class ConfigurationTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_reload_parameter_is_applied_by_reload_and_a_restart_parameter_reported_pending()
    {
        using var directory = new TempDirectory("config");
        await using var node = await TestNode.FromTemplateAsync(directory, "cfg");
        await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        Assert.Equal("4MB", await TestEnvironment.QueryAsync<string>(node.Port, "SHOW work_mem"));

        var parameters = new Dictionary<string, string>(TestEnvironment.FastParameters) { ["work_mem"] = "3MB", ["shared_buffers"] = "24MB" };
        var change = await node.Instance.WriteConfigurationAsync(node.Instance.Configuration with { Parameters = parameters }, None);
        Assert.Equal(["shared_buffers", "work_mem"], change.ChangedParameters);
        Assert.Equal(["shared_buffers"], change.RestartRequiredFor);
        Assert.True(change.ReloadNeeded);
        Assert.False(change.HbaChanged);

        await node.Instance.ReloadAsync(None);
        await TestEnvironment.EventuallyAsync(async () => await TestEnvironment.QueryAsync<string>(node.Port, "SHOW work_mem") == "3MB", TimeSpan.FromSeconds(10), "work_mem reloaded");
        await TestEnvironment.EventuallyAsync(async () => (await node.Instance.ProbeAsync(None)).PendingRestart.Contains("shared_buffers"), TimeSpan.FromSeconds(10), "shared_buffers pending restart");
        Assert.Equal("16MB", await TestEnvironment.QueryAsync<string>(node.Port, "SHOW shared_buffers"));

        // Writing the same again changes nothing.
        Assert.False((await node.Instance.WriteConfigurationAsync(node.Instance.Configuration, None)).ReloadNeeded);

        await node.Instance.StopAsync(StopMode.Fast, None);
        await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        Assert.Equal("24MB", await TestEnvironment.QueryAsync<string>(node.Port, "SHOW shared_buffers"));
        Assert.Empty((await node.Instance.ProbeAsync(None)).PendingRestart);
    }

    [Fact]
    public async Task Hba_changes_are_reported_and_written_with_members_and_extra_lines()
    {
        using var directory = new TempDirectory("hba");
        await using var node = await TestNode.FromTemplateAsync(directory, "hba");
        var change = await node.Instance.WriteConfigurationAsync(node.Instance.Configuration with
        {
            MemberAddresses = ["10.1.2.3", "fd00::7", "10.9.0.0/16"],
            ExtraHbaLines = ["host app app 192.168.0.0/24 scram-sha-256"],
        }, None);
        Assert.True(change.HbaChanged);
        Assert.True(change.ReloadNeeded);
        var hba = await File.ReadAllTextAsync(Path.Combine(node.DataDirectory, "pg_hba.conf"));
        Assert.Contains("host    replication  \"replicator\"  10.1.2.3/32  scram-sha-256", hba, StringComparison.Ordinal);
        Assert.Contains("host    all          all  fd00::7/128  scram-sha-256", hba, StringComparison.Ordinal);
        Assert.Contains("10.9.0.0/16", hba, StringComparison.Ordinal);
        Assert.EndsWith("host app app 192.168.0.0/24 scram-sha-256\n", hba, StringComparison.Ordinal);

        // PostgreSQL accepts the generated file.
        await node.Instance.StartAsync(ServerRole.Primary, cancellationToken: None);
        var errors = await TestEnvironment.QueryAsync<long>(node.Port, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL");
        Assert.Equal(0, errors);
    }
}

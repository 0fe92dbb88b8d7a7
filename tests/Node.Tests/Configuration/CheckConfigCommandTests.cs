using System.Diagnostics;

namespace PgRaft.Node.Tests.Configuration;

/// <summary>Runs the real <c>pgraft</c> program, as an operator would.</summary>
public sealed class CheckConfigCommandTests : IDisposable
{
    private readonly ConfigurationFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    internal static (int ExitCode, string Output, string Error) RunPgraft(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        EndToEnd.ClusterFixture.RemovePgraftVariables(start);
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pgraft.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("pgraft check-config did not exit within 60 s");
        }

        return (process.ExitCode, output.Result, error.Result);
    }

    [Fact]
    public void A_valid_configuration_prints_a_summary_without_secrets()
    {
        var (exitCode, output, error) = RunPgraft("check-config", "--config", _fixture.Write("pgraft.json", _fixture.ValidJson()));

        Assert.True(exitCode == 0, error);
        Assert.Contains("node node1: configuration is valid", output, StringComparison.Ordinal);
        Assert.DoesNotContain("0123456789abcdef", output, StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_configuration_exits_with_code_2_and_names_the_setting()
    {
        var (exitCode, output, error) = RunPgraft("check-config", "--config", _fixture.Write("pgraft.json", _fixture.ValidJson()), "--set", "Raft:Bind=nowhere");

        Assert.Equal(2, exitCode);
        Assert.Contains("Raft:Bind 'nowhere' has no port", error, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    [Theory]
    [InlineData("pause")]
    [InlineData("resume")]
    [InlineData("list")]
    public void A_cluster_command_without_a_running_node_names_the_api_address_and_exits_1(string command)
    {
        var (exitCode, output, error) = RunPgraft(command, "--config", _fixture.Write("pgraft.json", _fixture.ValidJson()), "--set", "Api:Bind=127.0.0.1:9");

        Assert.Equal(1, exitCode);
        Assert.Contains("cannot read /cluster from this node's API at 127.0.0.1:9", error, StringComparison.Ordinal);
        Assert.Contains("is `pgraft run` running here?", error, StringComparison.Ordinal);
        Assert.Equal("", output);
    }
}

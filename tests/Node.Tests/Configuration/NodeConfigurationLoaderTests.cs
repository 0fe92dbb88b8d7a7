using System.Collections;
using PgRaft.Node.Configuration;

namespace PgRaft.Node.Tests.Configuration;

public sealed class NodeConfigurationLoaderTests : IDisposable
{
    private readonly ConfigurationFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private NodeOptions Load(string json, IDictionary? environment = null, params (string Key, string Value)[] overrides) =>
        NodeConfigurationLoader.Load(
            _fixture.Write("pgraft.json", json),
            environment ?? new Hashtable(),
            overrides.Select(o => new KeyValuePair<string, string?>(o.Key, o.Value)));

    private ConfigurationException Refused(string json, IDictionary? environment = null, params (string Key, string Value)[] overrides) =>
        Assert.Throws<ConfigurationException>(() => Load(json, environment, overrides));

    [Fact]
    public void A_valid_file_binds_every_section()
    {
        var options = Load(_fixture.ValidJson());

        Assert.Equal("node1", options.NodeId);
        Assert.Equal(3, options.Peers.Count);
        Assert.Equal("127.0.0.1:5433", options.Postgres.Bind);
        Assert.Equal("postgres", options.Postgres.OsUser);
        Assert.Equal(new HostPort("127.0.0.1", 7432), NodeOptionsValidator.Advertised(options.Raft.Bind, options.Raft.Advertise));
    }

    [Fact]
    public void Environment_overrides_the_file_and_flags_override_the_environment()
    {
        var environment = new Hashtable { ["PGRAFT_POSTGRES__OSUSER"] = "pgenv", ["PGRAFT_LOGGING__LEVEL"] = "Debug", ["OTHER"] = "x" };

        var options = Load(_fixture.ValidJson(), environment, ("Logging:Level", "Warning"));

        Assert.Equal("pgenv", options.Postgres.OsUser);
        Assert.Equal("Warning", options.Logging.Level);
    }

    [Fact]
    public void An_unknown_key_is_named_with_its_path()
    {
        var error = Refused(_fixture.ValidJson(""", "Raft2": { "Bind": "x" }, "Postgres": { "Prot": 1 }"""));

        Assert.Contains(error.Problems, p => p.Contains("unknown setting 'Raft2'", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("unknown setting 'Postgres:Prot'", StringComparison.Ordinal) && p.Contains("Bind", StringComparison.Ordinal));
    }

    [Fact]
    public void An_unknown_environment_variable_under_the_prefix_is_refused()
    {
        var error = Refused(_fixture.ValidJson(), new Hashtable { ["PGRAFT_RAFT__BINDD"] = "1.2.3.4:1" });

        Assert.Contains(error.Problems, p => p.Contains("unknown setting 'Raft:BINDD'", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void A_missing_cluster_secret_says_how_to_provide_one()
    {
        var json = _fixture.ValidJson().Replace($"\"ClusterSecretFile\": \"{_fixture.SecretFile}\",", "", StringComparison.Ordinal);

        var error = Refused(json);

        Assert.Contains(error.Problems, p => p.Contains("cluster secret is missing", StringComparison.Ordinal) && p.Contains("ClusterSecretFile", StringComparison.Ordinal));
    }

    [Fact]
    public void A_short_secret_is_refused_without_echoing_it()
    {
        var error = Refused(_fixture.ValidJson(), new Hashtable { ["PGRAFT_CLUSTERSECRETFILE"] = _fixture.Write("short.secret", "tiny-secret") });

        Assert.Contains(error.Problems, p => p.Contains("fewer than 16 characters", StringComparison.Ordinal));
        Assert.DoesNotContain("tiny-secret", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1", "has no port")]
    [InlineData("127.0.0.1:99999", "not a number from 1 to 65535")]
    [InlineData("bad host!:7432", "neither an IP address nor a DNS name")]
    public void A_bad_address_names_the_setting(string address, string expected)
    {
        var error = Refused(_fixture.ValidJson(), overrides: ("Api:Bind", address));

        Assert.Contains(error.Problems, p => p.StartsWith("Api:Bind", StringComparison.Ordinal) && p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void A_wildcard_bind_needs_an_advertised_address()
    {
        var error = Refused(_fixture.ValidJson(), overrides: ("Raft:Bind", "0.0.0.0:7432"));

        Assert.Contains(error.Problems, p => p.Contains("Raft:Advertise is needed", StringComparison.Ordinal));
    }

    [Fact]
    public void Inconsistent_peer_lists_are_refused()
    {
        var notListed = Refused(_fixture.ValidJson(), overrides: ("NodeId", "node4"));
        var wrongAddress = Refused(_fixture.ValidJson(), overrides: ("Peers:0:Raft", "127.0.0.9:7432"));
        var duplicate = Refused(_fixture.ValidJson(), overrides: ("Peers:2:Id", "node2"));

        Assert.Contains(notListed.Problems, p => p.Contains("Peers does not include this node ('node4')", StringComparison.Ordinal));
        Assert.Contains(wrongAddress.Problems, p => p.Contains("Raft:Advertise/Bind says 127.0.0.1:7432", StringComparison.Ordinal));
        Assert.Contains(duplicate.Problems, p => p.Contains("appears twice", StringComparison.Ordinal));
        Assert.Contains(notListed.Problems, p => p.Contains("set Join: true", StringComparison.Ordinal));
    }

    [Fact]
    public void A_joining_node_lists_the_members_it_reaches_but_not_itself()
    {
        var listsItself = Refused(_fixture.ValidJson(), overrides: ("Join", "true"));
        Assert.Contains(listsItself.Problems, p => p.Contains("Join is true but Peers includes this node ('node1')", StringComparison.Ordinal));

        var joining = NodeConfigurationLoader.Load(_fixture.Write("join.json", _fixture.ValidJson()), new Hashtable(), [new("NodeId", "node4"), new("Join", "true")]);
        Assert.True(joining.Join);
        Assert.DoesNotContain(joining.Peers, p => p.Id == "node4");
    }

    [Fact]
    public void An_unreadable_password_file_is_named_without_its_contents()
    {
        var error = Refused(_fixture.ValidJson(), overrides: ("Postgres:ReplicationPasswordFile", Path.Combine(_fixture.Folder, "nope")));

        Assert.Contains(error.Problems, p => p.StartsWith("Postgres:ReplicationPasswordFile", StringComparison.Ordinal) && p.Contains("does not exist", StringComparison.Ordinal));
        Assert.DoesNotContain("must-not-leak", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Clashing_ports_are_refused()
    {
        var error = Refused(_fixture.ValidJson(), overrides: ("Proxy:ReadOnlyBind", "0.0.0.0:5432"));

        Assert.Contains(error.Problems, p => p.Contains("Proxy:ReadWriteBind and Proxy:ReadOnlyBind use the same port 5432", StringComparison.Ordinal));
    }

    [Fact]
    public void Broken_json_names_the_line()
    {
        var error = Refused("{\n  \"NodeId\": \"node1\",\n  oops\n}");

        Assert.Contains("line 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var error = Refused("{}");

        Assert.Contains(error.Problems, p => p.StartsWith("NodeId is missing", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.StartsWith("DataDir is missing", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.StartsWith("Peers is empty", StringComparison.Ordinal));
        Assert.True(error.Problems.Count >= 5, string.Join("\n", error.Problems));
    }
}

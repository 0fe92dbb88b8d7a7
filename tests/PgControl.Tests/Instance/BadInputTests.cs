using System.Net;
using System.Net.Sockets;
using PgRaft.PgControl.Configuration;
using PgRaft.PgControl.Instance;
using PgRaft.PgControl.Processes;
using PgRaft.PgControl.Tests.Support;

namespace PgRaft.PgControl.Tests.Instance;

/// <summary>Each kind of bad input gets its own clear error, and nothing already stored is lost.</summary>
public sealed class BadInputTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static async Task<PgControlException> StartFailsAsync(TestNode node, ulong? expectedSystemIdentifier = null)
    {
        var error = await Assert.ThrowsAsync<PgControlException>(() => node.Instance.StartAsync(ServerRole.Primary, expectedSystemIdentifier: expectedSystemIdentifier, cancellationToken: None));
        Assert.False(node.Instance.IsRunning);
        Assert.False(TestEnvironment.CanConnect(node.Port));
        return error;
    }

    [Fact]
    public async Task A_wrong_bin_directory()
    {
        using var directory = new TempDirectory("badbin");
        await using var node = TestNode.Empty(directory, "n", adjust: o => new PostgresOptions
        {
            DataDirectory = o.DataDirectory, BinDirectory = "/usr/lib/postgresql/nope/bin", Port = o.Port, OsUser = o.OsUser,
            Superuser = o.Superuser, Replication = o.Replication, ApplicationName = o.ApplicationName, GuardCommand = o.GuardCommand,
        });
        var error = await Assert.ThrowsAsync<PgControlException>(() => node.Instance.InitAsync(None));
        Assert.Equal(PgControlError.BinariesNotFound, error.Error);
        Assert.Contains("/usr/lib/postgresql/nope/bin", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(node.DataDirectory));
    }

    [Fact]
    public async Task Binaries_are_found_without_configuration()
    {
        var binaries = await PostgresBinaries.ResolveAsync(null, None);
        Assert.True(File.Exists(binaries.Postgres));
        Assert.InRange(binaries.MajorVersion, PostgresBinaries.OldestSupported, 99);
        Assert.Equal(15, PostgresBinaries.ParseMajorVersion("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"));
        Assert.Null(PostgresBinaries.ParseMajorVersion("bash: postgres: not found"));
    }

    [Fact]
    public async Task A_data_directory_owned_by_another_user()
    {
        Assert.True(TestEnvironment.IsRoot, "CI runs these tests as root (PostgreSQL as the postgres user)");
        using var directory = new TempDirectory("owner");
        await using var node = await TestNode.FromTemplateAsync(directory, "n");
        NativeMethods.Chown(node.DataDirectory, 0, 0);
        var error = await StartFailsAsync(node);
        Assert.Equal(PgControlError.DataDirectoryOwnership, error.Error);
        Assert.Contains("chown", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_data_directory_with_loose_permissions()
    {
        using var directory = new TempDirectory("perms");
        await using var node = await TestNode.FromTemplateAsync(directory, "n");
        File.SetUnixFileMode(node.DataDirectory, (UnixFileMode)Convert.ToInt32("755", 8));
        var error = await StartFailsAsync(node);
        Assert.Equal(PgControlError.DataDirectoryPermissions, error.Error);
        Assert.Contains("chmod 0700", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_already_in_use()
    {
        using var directory = new TempDirectory("port");
        await using var node = await TestNode.FromTemplateAsync(directory, "n");
        var squatter = new TcpListener(IPAddress.Loopback, node.Port);
        squatter.Start();
        try
        {
            var error = await Assert.ThrowsAsync<PgControlException>(() => node.Instance.StartAsync(ServerRole.Primary, cancellationToken: None));
            Assert.Equal(PgControlError.PortInUse, error.Error);
            Assert.Contains(node.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
            Assert.False(node.Instance.IsRunning);
        }
        finally
        {
            squatter.Stop();
        }
    }

    [Fact]
    public async Task A_data_directory_from_another_cluster()
    {
        using var directory = new TempDirectory("sysid");
        await using var node = await TestNode.FromTemplateAsync(directory, "n");
        var actual = (await node.Instance.ReadControlDataAsync(None)).SystemIdentifier;
        var error = await StartFailsAsync(node, actual + 1);
        Assert.Equal(PgControlError.SystemIdentifierMismatch, error.Error);
        Assert.Contains(actual.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(node.DataDirectory, "PG_VERSION")));
    }

    [Fact]
    public async Task Missing_and_uninitialised_data_directories()
    {
        using var directory = new TempDirectory("missing");
        await using var node = TestNode.Empty(directory, "n");
        Assert.Equal(PgControlError.DataDirectoryMissing, (await StartFailsAsync(node)).Error);
        Directory.CreateDirectory(node.DataDirectory);
        Assert.Equal(PgControlError.DataDirectoryNotInitialized, (await StartFailsAsync(node)).Error);
    }

    [Fact]
    public async Task Init_refuses_a_directory_that_holds_something_and_leaves_it_alone()
    {
        using var directory = new TempDirectory("occupied");
        await using var node = TestNode.Empty(directory, "n");
        Directory.CreateDirectory(node.DataDirectory);
        var precious = Path.Combine(node.DataDirectory, "precious.txt");
        await File.WriteAllTextAsync(precious, "keep me");
        var error = await Assert.ThrowsAsync<PgControlException>(() => node.Instance.InitAsync(None));
        Assert.Equal(PgControlError.DataDirectoryNotEmpty, error.Error);
        Assert.Equal("keep me", await File.ReadAllTextAsync(precious));
    }

    [Fact]
    public async Task A_missing_password_names_its_source_but_never_a_password()
    {
        using var directory = new TempDirectory("nopw");
        await using var node = TestNode.Empty(directory, "n", adjust: o => new PostgresOptions
        {
            DataDirectory = o.DataDirectory, BinDirectory = o.BinDirectory, Port = o.Port, OsUser = o.OsUser,
            Superuser = o.Superuser, Replication = PostgresCredentials.FromEnvironment("replicator", "PGRAFT_TEST_UNSET_VARIABLE"),
            ApplicationName = o.ApplicationName, GuardCommand = o.GuardCommand,
        });
        var error = await Assert.ThrowsAsync<PgControlException>(() => node.Instance.InitAsync(None));
        Assert.Equal(PgControlError.PasswordMissing, error.Error);
        Assert.Contains("PGRAFT_TEST_UNSET_VARIABLE", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TestEnvironment.SuperPassword, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("super-secret", PostgresCredentials.FromMemory("postgres", "super-secret").ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_managed_or_malformed_parameter_is_refused_and_nothing_is_written()
    {
        using var directory = new TempDirectory("param");
        await using var node = await TestNode.FromTemplateAsync(directory, "n");
        var include = Path.Combine(node.DataDirectory, ConfigRenderer.IncludeFileName);
        var before = await File.ReadAllTextAsync(include);
        foreach (var (name, value) in new[] { ("port", "1"), ("primary_conninfo", "host=x"), ("bad name", "1"), ("work_mem", "1MB\nport = 1") })
        {
            var error = await Assert.ThrowsAsync<PgControlException>(() =>
                node.Instance.WriteConfigurationAsync(new PostgresConfiguration { Parameters = new Dictionary<string, string> { [name] = value } }, None));
            Assert.Equal(PgControlError.InvalidArgument, error.Error);
        }
        Assert.Equal(before, await File.ReadAllTextAsync(include));
    }

    [Fact]
    public async Task Root_without_an_os_user_is_refused()
    {
        Assert.True(TestEnvironment.IsRoot, "CI runs these tests as root (PostgreSQL as the postgres user)");
        var error = await Assert.ThrowsAsync<PgControlException>(() => OsIdentity.ResolveAsync(null, None));
        Assert.Equal(PgControlError.OsUserRequired, error.Error);
        var unknown = await Assert.ThrowsAsync<PgControlException>(() => OsIdentity.ResolveAsync("no-such-user-pgraft", None));
        Assert.Equal(PgControlError.OsUserRequired, unknown.Error);
    }
}

namespace PgRaft.Node.Tests.Configuration;

/// <summary>A temp folder with a valid three-node configuration for node1, that each test bends one way.</summary>
internal sealed class ConfigurationFixture : IDisposable
{
    public ConfigurationFixture()
    {
        Folder = Directory.CreateTempSubdirectory("pgraft-config-").FullName;
        SecretFile = Write("cluster.secret", "0123456789abcdef0123456789abcdef");
        SuperuserPasswordFile = Write("superuser.password", "su-password-that-must-not-leak");
        ReplicationPasswordFile = Write("replication.password", "repl-password-that-must-not-leak");
    }

    public string Folder { get; }

    public string SecretFile { get; }

    public string SuperuserPasswordFile { get; }

    public string ReplicationPasswordFile { get; }

    public string Write(string name, string contents)
    {
        var path = Path.Combine(Folder, name);
        File.WriteAllText(path, contents);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    public string ValidJson(string? extra = null) => $$"""
        {
          "NodeId": "node1",
          "DataDir": "{{Folder}}/data",
          "ClusterSecretFile": "{{SecretFile}}",
          "Raft": { "Bind": "127.0.0.1:7432" },
          "Api": { "Bind": "127.0.0.1:8008" },
          "Postgres": { "Bind": "127.0.0.1:5433", "SuperuserPasswordFile": "{{SuperuserPasswordFile}}", "ReplicationPasswordFile": "{{ReplicationPasswordFile}}" },
          "Proxy": { "ReadWriteBind": "127.0.0.1:5432", "ReadOnlyBind": "127.0.0.1:5434" },
          "Peers": [
            { "Id": "node1", "Raft": "127.0.0.1:7432" },
            { "Id": "node2", "Raft": "127.0.0.2:7432" },
            { "Id": "node3", "Raft": "127.0.0.3:7432" }
          ]{{extra}}
        }
        """;

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

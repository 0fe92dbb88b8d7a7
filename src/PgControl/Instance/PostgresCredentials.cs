namespace PgRaft.PgControl.Instance;

/// <summary>
/// A PostgreSQL role and where its password comes from (a file or an environment variable, or
/// memory when the caller already read its own configuration). The password is read when needed
/// and never printed: <see cref="ToString"/> names only the source.
/// </summary>
internal sealed class PostgresCredentials
{
    private readonly Func<string?> _readPassword;
    private readonly string _source;

    private PostgresCredentials(string userName, Func<string?> readPassword, string source)
    {
        if (string.IsNullOrWhiteSpace(userName) || userName.Any(char.IsControl))
        {
            throw new PgControlException(PgControlError.InvalidArgument, $"'{userName}' is not a usable PostgreSQL role name.");
        }
        UserName = userName;
        _readPassword = readPassword;
        _source = source;
    }

    public string UserName { get; }

    public static PostgresCredentials FromFile(string userName, string passwordFile) =>
        new(userName, () => File.Exists(passwordFile) ? File.ReadAllText(passwordFile).TrimEnd('\r', '\n') : null, $"file {passwordFile}");

    public static PostgresCredentials FromEnvironment(string userName, string variable) =>
        new(userName, () => Environment.GetEnvironmentVariable(variable), $"environment variable {variable}");

    public static PostgresCredentials FromMemory(string userName, string password) =>
        new(userName, () => password, "configuration");

    public string ReadPassword()
    {
        var password = _readPassword();
        if (string.IsNullOrEmpty(password))
        {
            throw new PgControlException(PgControlError.PasswordMissing,
                $"No password for PostgreSQL role '{UserName}' in its {_source}: put the password there.");
        }
        if (password.Contains('\n', StringComparison.Ordinal) || password.Contains('\r', StringComparison.Ordinal))
        {
            throw new PgControlException(PgControlError.PasswordMissing,
                $"The password for PostgreSQL role '{UserName}' in its {_source} spans several lines: keep it on one line.");
        }
        return password;
    }

    public override string ToString() => $"{UserName} (password from {_source})";
}

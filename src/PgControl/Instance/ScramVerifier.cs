using System.Security.Cryptography;
using System.Text;

namespace PgRaft.PgControl.Instance;

/// <summary>
/// Builds a SCRAM-SHA-256 password verifier as PostgreSQL stores it, so a role's password is set
/// without the clear text ever reaching the server (or its logs).
/// </summary>
internal static class ScramVerifier
{
    public const int Iterations = 4096;

    public static string Create(string password) => Create(password, RandomNumberGenerator.GetBytes(16), Iterations);

    internal static string Create(string password, byte[] salt, int iterations)
    {
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        var storedKey = SHA256.HashData(clientKey);
        var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
        return $"SCRAM-SHA-256${iterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
    }
}

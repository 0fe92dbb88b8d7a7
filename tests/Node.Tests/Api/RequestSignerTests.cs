using System.Text;
using PgRaft.Node.Api;
using PgRaft.Node.Tests.Support;

namespace PgRaft.Node.Tests.Api;

public sealed class RequestSignerTests
{
    private const string Secret = "0123456789abcdef0123456789abcdef";
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("{\"nodeId\":\"node2\"}");

    [Fact]
    public void A_signature_from_the_same_secret_is_accepted()
    {
        var time = new ManualTimeProvider();
        var signer = new RequestSigner(Secret, time);

        var header = signer.Sign("POST", "/internal/v1/report", Body);

        Assert.Null(signer.Check("post", "/internal/v1/report", header, Body));
    }

    [Fact]
    public void A_different_secret_is_refused_and_the_reason_leaks_no_secret()
    {
        var time = new ManualTimeProvider();
        var header = new RequestSigner("another-secret-of-enough-length", time).Sign("POST", "/internal/v1/report", Body);

        var reason = new RequestSigner(Secret, time).Check("POST", "/internal/v1/report", header, Body);

        Assert.Equal("signature does not match: the caller uses a different cluster secret", reason);
    }

    [Theory]
    [InlineData("GET", "/internal/v1/report", "{\"nodeId\":\"node2\"}")]
    [InlineData("POST", "/internal/v1/lease", "{\"nodeId\":\"node2\"}")]
    [InlineData("POST", "/internal/v1/report", "{\"nodeId\":\"node3\"}")]
    public void Changing_method_path_or_body_breaks_the_signature(string method, string path, string body)
    {
        var signer = new RequestSigner(Secret, new ManualTimeProvider());
        var header = signer.Sign("POST", "/internal/v1/report", Body);

        Assert.NotNull(signer.Check(method, path, header, Encoding.UTF8.GetBytes(body)));
    }

    [Fact]
    public void An_old_signature_is_refused_as_a_replay()
    {
        var time = new ManualTimeProvider();
        var signer = new RequestSigner(Secret, time);
        var header = signer.Sign("POST", "/internal/v1/report", Body);

        time.Advance(RequestSigner.MaxSkew + TimeSpan.FromSeconds(1));

        Assert.Contains("away from this node's clock", signer.Check("POST", "/internal/v1/report", header, Body), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "missing")]
    [InlineData("", "missing")]
    [InlineData("nonsense", "malformed")]
    [InlineData("123.zz", "malformed")]
    [InlineData("-5.00", "malformed")]
    public void Garbage_headers_are_refused_with_a_reason(string? header, string expected)
    {
        var signer = new RequestSigner(Secret, new ManualTimeProvider());

        Assert.Contains(expected, signer.Check("POST", "/x", header, Body), StringComparison.Ordinal);
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace PgRaft.Node.Tests.EndToEnd;

/// <summary>The read-only HTTP surface operators and their tools scrape: metrics, history, config, the dashboard.</summary>
[Collection(ClusterCollection.Name)]
public sealed partial class ApiEndpointTests(ClusterFixture cluster, ITestOutputHelper output)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    [GeneratedRegex(@"^(?<name>[a-z_]+)\{(?<labels>[^}]*)\} (?<value>-?[0-9.eE+]+)$")]
    private static partial Regex SampleLine();

    private static Task<string> GetAsync(int node, string path) => Http.GetStringAsync(new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(node)}{path}"));

    [Fact]
    public async Task Metrics_are_valid_prometheus_text_and_tell_the_primary_and_the_proxies_apart()
    {
        var primary = await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(120));
        var standby = primary % ClusterFixture.Nodes + 1;
        await cluster.ScalarAsync<int>(ClusterFixture.ReadWritePort(standby), "select 1");

        var samples = new Dictionary<int, Dictionary<string, double>>();
        foreach (var node in new[] { primary, standby })
        {
            var text = await GetAsync(node, "/metrics");
            var declared = new HashSet<string>(StringComparer.Ordinal);
            var values = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
                {
                    Assert.Matches(@"^# TYPE [a-z_]+ (gauge|counter)$", line);
                    declared.Add(line.Split(' ')[2]);
                    continue;
                }

                if (line.StartsWith("# HELP ", StringComparison.Ordinal))
                {
                    continue;
                }

                var match = SampleLine().Match(line);
                Assert.True(match.Success, $"not a sample line: '{line}'");
                Assert.Contains(match.Groups["name"].Value, declared);
                Assert.Contains($"node=\"node{node}\"", match.Groups["labels"].Value, StringComparison.Ordinal);
                values[match.Groups["name"].Value + "{" + match.Groups["labels"].Value + "}"] = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            }

            samples[node] = values;
        }

        Assert.Equal(1, samples[primary][$"pgraft_view_primary{{node=\"node{primary}\"}}"]);
        Assert.Equal(1, samples[primary][$"pgraft_lease_held{{node=\"node{primary}\"}}"]);
        Assert.Equal(1, samples[primary][$"pgraft_postgres_role{{node=\"node{primary}\",role=\"primary\"}}"]);
        Assert.Equal(0, samples[standby][$"pgraft_view_primary{{node=\"node{standby}\"}}"]);
        Assert.Equal(1, samples[standby][$"pgraft_postgres_role{{node=\"node{standby}\",role=\"standby\"}}"]);
        Assert.True(samples[standby][$"pgraft_proxy_connections_total{{node=\"node{standby}\",port=\"read-write\"}}"] >= 1);
        Assert.True(samples[standby][$"pgraft_proxy_bytes_total{{node=\"node{standby}\",port=\"read-write\",direction=\"to_client\"}}"] > 0);
        Assert.True(samples[primary][$"pgraft_raft_term{{node=\"node{primary}\"}}"] >= 1);
        Assert.Equal(ClusterFixture.Nodes, (int)samples[primary][$"pgraft_cluster_members{{node=\"node{primary}\"}}"]);
        Assert.DoesNotContain(cluster.Password, await GetAsync(primary, "/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_checks_answer_as_patronis_do_including_lag_limits_and_the_sync_set()
    {
        var primary = await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(120));
        var standbys = Enumerable.Range(1, ClusterFixture.Nodes).Where(n => n != primary).ToList();
        async Task<int> Status(int node, string path, HttpMethod? method = null)
        {
            using var request = new HttpRequestMessage(method ?? HttpMethod.Get, new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(node)}{path}"));
            using var response = await Http.SendAsync(request);
            return (int)response.StatusCode;
        }

        Assert.Equal(200, await Status(primary, "/primary"));
        Assert.Equal(200, await Status(primary, "/primary", HttpMethod.Head));
        Assert.Equal(503, await Status(primary, "/replica"));
        Assert.Equal(200, await Status(primary, "/read-only?lag=0"));
        Assert.Equal(503, await Status(primary, "/sync"));

        foreach (var standby in standbys)
        {
            Assert.Equal(503, await Status(standby, "/primary"));
            Assert.Equal(200, await Status(standby, "/replica"));
            // A standby's lag is known once the leader has reports of it and of the primary; unknown counts as too far.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (await Status(standby, "/replica?lag=1TB") != 200 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }

            Assert.Equal(200, await Status(standby, "/replica?lag=1TB"));
            Assert.Equal(400, await Status(standby, "/replica?lag=lots"));
        }

        // The sync set may still be settling after earlier tests: compare with it only while its generation holds still.
        for (var attempt = 0; ; attempt++)
        {
            var (generation, sync) = await SyncSetAsync(primary);
            var answers = new Dictionary<int, (int Sync, int Async)>();
            foreach (var standby in standbys)
            {
                answers[standby] = (await Status(standby, "/sync"), await Status(standby, "/async"));
            }

            if ((await SyncSetAsync(primary)).Generation != generation && attempt < 20)
            {
                await Task.Delay(500);
                continue;
            }

            foreach (var standby in standbys)
            {
                var inSync = sync.Contains($"node{standby}");
                Assert.Equal((inSync ? 200 : 503, inSync ? 503 : 200), answers[standby]);
            }

            return;
        }
    }

    private static async Task<(long Generation, HashSet<string?> Sync)> SyncSetAsync(int node)
    {
        using var document = JsonDocument.Parse(await GetAsync(node, "/cluster"));
        var view = document.RootElement.GetProperty("view");
        return (view.GetProperty("generation").GetInt64(), view.GetProperty("sync").GetProperty("standbys").EnumerateArray().Select(e => e.GetString()).ToHashSet());
    }

    [Fact]
    public async Task The_dashboard_renders_every_member_and_the_sentinel_in_a_real_browser()
    {
        const string browser = "/usr/bin/chromium";
        Assert.True(File.Exists(browser), $"{browser} is missing: install Debian's chromium (scripts/test.sh does)");
        var primary = await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(120));
        var profile = Path.Combine(cluster.Root, "chromium-profile");
        var start = new System.Diagnostics.ProcessStartInfo(browser) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
            $"http://127.0.0.1:{ClusterFixture.ApiPort(primary)}/dashboard",
        })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var dom = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "chromium did not finish within 60 s");
        var html = await dom;
        output.WriteLine(html.Length > 4000 ? html[..4000] : html);

        // The page's script ran, fetched /cluster and /cluster/nodes and drew them.
        Assert.Contains($"primary node{primary} · generation", html, StringComparison.Ordinal);
        for (var n = 1; n <= ClusterFixture.Nodes; n++)
        {
            Assert.Contains($"<td>node{n}</td>", html, StringComparison.Ordinal);
        }

        Assert.Contains("<td>primary</td>", html, StringComparison.Ordinal);
        Assert.Contains("bootstrap", html, StringComparison.Ordinal);
        // The script's own text is in the dump too: look at what it put into the page's elements.
        Assert.Matches(@"<div id=""sentinel""[^>]*>[A-Za-z]+ \(on node\d\): [^<]+</div>", html);
        Assert.Matches(@"<span id=""status"">updated [^<]+</span>", html);
    }

    [Fact]
    public async Task History_config_and_the_dashboard_are_served_to_anyone_who_asks()
    {
        var primary = await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(120));

        using (var history = JsonDocument.Parse(await GetAsync(primary, "/history")))
        {
            Assert.Equal("Bootstrap", history.RootElement[0].GetProperty("reason").GetString());
        }

        var config = await GetAsync(primary, "/config");
        Assert.Equal(Configuration.CheckConfigCommandTests.RunPgraft("show-config", "--config", Path.Combine(cluster.NodeDirectory(primary), "pgraft.json")).Output, config);

        using var page = await Http.GetAsync(new Uri($"http://127.0.0.1:{ClusterFixture.ApiPort(primary)}/"));
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType?.ToString());
        Assert.Contains("default-src 'self'", string.Join(";", page.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<title>PgRaft cluster</title>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("innerHTML", html, StringComparison.Ordinal);
        output.WriteLine($"dashboard: {html.Length} bytes");
    }
}

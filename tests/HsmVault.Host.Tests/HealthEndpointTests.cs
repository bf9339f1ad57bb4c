using System.Text.Json;
using HsmVault.Host.Health;
using HsmVault.Host.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HsmVault.Host.Tests;

/// <summary>
/// /health/live, /health/ready, /health and /metrics on the real host (Kestrel, the health checks,
/// the OpenTelemetry Prometheus exporter). Waits are bounded waits for a condition, never a sleep
/// standing in for one; the probe interval is short so the conditions come quickly.
/// </summary>
[TestClass]
public sealed class HealthEndpointTests
{
    private static readonly string[] FastProbe = ["--Health:ProbeInterval=00:00:00.05", "--Hsm:ReconnectDelay=00:00:00.02", "--Hsm:MaxReconnectDelay=00:00:00.1"];

    [TestMethod]
    public async Task A_killed_bridge_makes_ready_answer_503_without_any_client_request_and_live_stays_200()
    {
        using var directory = new TempDirectory();
        var enclave = new FakeEnclave();
        await using var server = new FakeBridgeServer(directory.File("hsm.sock"), enclave);
        using IHost host = VaultHost.Build(
            ["--Host:Port=0", "--Health:Port=0", $"--Hsm:Endpoint=unix:{server.SocketPath}", $"--Store:Path={directory.File("host.db")}", "--Logging:LogLevel:Default=None", .. FastProbe]);
        await host.StartAsync();
        int port = host.Services.GetRequiredService<HealthEndpoint>().LocalEndPoint!.Port;
        await WaitForStatusAsync(port, "/health/ready", 200);

        server.Kill();
        await WaitForStatusAsync(port, "/health/ready", 503);
        (int live, string liveBody) = await VaultHostTests.HttpGetAsync(port, "/health/live");
        (int health, string body) = await VaultHostTests.HttpGetAsync(port, "/health");
        using JsonDocument document = JsonDocument.Parse(body);

        Assert.AreEqual(200, live, liveBody);
        Assert.AreEqual(503, health, body);
        Assert.AreEqual("unavailable", document.RootElement.GetProperty("status").GetString());
        Assert.IsFalse(document.RootElement.GetProperty("enclaveReachable").GetBoolean());
        await host.StopAsync();
    }

    [TestMethod]
    public async Task Ready_returns_to_200_when_the_hsm_comes_back()
    {
        using var directory = new TempDirectory();
        var enclave = new FakeEnclave();
        (IHost started, _, int port) = await StartServingAsync(directory, enclave, FastProbe);
        using IHost host = started;
        await WaitForStatusAsync(port, "/health/ready", 200);

        enclave.Down = true;
        await WaitForStatusAsync(port, "/health/ready", 503);
        enclave.Down = false;
        await WaitForStatusAsync(port, "/health/ready", 200);

        Assert.AreEqual(ServiceStatus.Serving, host.Services.GetRequiredService<VaultPipeline>().Status);
        await host.StopAsync();
    }

    [TestMethod]
    public async Task The_health_detail_names_the_current_log_index()
    {
        using var directory = new TempDirectory();
        (IHost started, VaultPipeline pipeline, int port) = await StartServingAsync(directory, new FakeEnclave());
        using IHost host = started;

        for (int i = 0; i < 3; i++)
        {
            await pipeline.SubmitAsync(Requests.RegisterFinish($"user-{i}", "blob"));
        }

        (int status, string body) = await VaultHostTests.HttpGetAsync(port, "/health/ready");
        using JsonDocument document = JsonDocument.Parse(body);

        Assert.AreEqual(200, status, body);
        Assert.AreEqual("serving at log index 3", document.RootElement.GetProperty("detail").GetString());
        Assert.AreEqual(3UL, document.RootElement.GetProperty("logIndex").GetUInt64());
        await host.StopAsync();
    }

    [TestMethod]
    public async Task Metrics_are_served_in_the_prometheus_text_format_under_the_documented_names()
    {
        using var directory = new TempDirectory();
        (IHost started, VaultPipeline pipeline, int port) = await StartServingAsync(directory, new FakeEnclave());
        using IHost host = started;
        await pipeline.SubmitAsync(Requests.RegisterFinish("alice", "blob"));
        await pipeline.SubmitAsync(Requests.LoginStart("alice"));
        await pipeline.SubmitAsync(Requests.LoginStart("nobody"));
        await pipeline.SubmitAsync(Requests.Status(string.Empty));

        using var http = new HttpClient();
        using HttpResponseMessage response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{HealthEndpoint.MetricsPath}"));
        string text = await response.Content.ReadAsStringAsync();

        Assert.AreEqual(200, (int)response.StatusCode, text);
        Assert.AreEqual("text/plain", response.Content.Headers.ContentType?.MediaType, text);
        foreach (string line in DocumentedMetricLines)
        {
            StringAssert.Contains(text, line, "/metrics lacks a documented metric:\n" + text);
        }

        // Which operation a request is travels sealed: the host counts requests, not kinds.
        Assert.AreEqual(4, PrometheusText.Value(text, "hsmvault_host_requests_total"), text);
        Assert.AreEqual(1, PrometheusText.Value(text, "hsmvault_host_errors_total", ("code", "BadRequest")), text);
        Assert.AreEqual(1, PrometheusText.Value(text, "hsmvault_host_records"), text);
        Assert.AreEqual(2, PrometheusText.Value(text, "hsmvault_host_log_index"), text);
        Assert.AreEqual(1, PrometheusText.Value(text, "hsmvault_host_serving"), text);
        Assert.AreEqual(1, PrometheusText.Value(text, "hsmvault_host_hsm_reachable"), text);
        Assert.AreEqual(4, PrometheusText.Value(text, "hsmvault_host_request_duration_milliseconds_count"), text);
        await host.StopAsync();
    }

    // A host over a fake enclave, started and serving; the caller disposes it.
    private static async Task<(IHost Host, VaultPipeline Pipeline, int HealthPort)> StartServingAsync(TempDirectory directory, FakeEnclave enclave, params string[] extra)
    {
        IHost host = VaultHost.Build(
            ["--Host:Port=0", "--Health:Port=0", $"--Store:Path={directory.File("host.db")}", "--Logging:LogLevel:Default=None", .. extra],
            _ => enclave);
        await host.StartAsync();
        var pipeline = host.Services.GetRequiredService<VaultPipeline>();
        await VaultPipelineTests.WaitUntilAsync(() => pipeline.Status == ServiceStatus.Serving);
        return (host, pipeline, host.Services.GetRequiredService<HealthEndpoint>().LocalEndPoint!.Port);
    }

    // The names docs/HOST.md lists under "Health and metrics", as Prometheus sees them.
    private static readonly string[] DocumentedMetricLines =
    [
        "# TYPE hsmvault_host_requests_total counter",
        "# TYPE hsmvault_host_errors_total counter",
        "# TYPE hsmvault_host_request_duration_milliseconds histogram",
        "# TYPE hsmvault_host_batches_total counter",
        "# TYPE hsmvault_host_batch_operations histogram",
        "# TYPE hsmvault_host_records gauge",
        "# TYPE hsmvault_host_connections gauge",
        "# TYPE hsmvault_host_log_index gauge",
        "# TYPE hsmvault_host_serving gauge",
        "# TYPE hsmvault_host_hsm_reachable gauge",
    ];

    private static async Task WaitForStatusAsync(int port, string path, int expected)
    {
        // Generous: the probe runs every 50 ms; the bound only keeps a broken build from hanging.
        DateTime deadline = DateTime.UtcNow.AddSeconds(15);
        (int status, string body) = await VaultHostTests.HttpGetAsync(port, path);
        while (status != expected)
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"{path} stayed {status}, expected {expected}: {body}");
            }

            await Task.Delay(20);
            (status, body) = await VaultHostTests.HttpGetAsync(port, path);
        }
    }
}

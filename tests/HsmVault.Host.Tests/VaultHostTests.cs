using System.Net.Sockets;
using System.Text.Json;
using Google.Protobuf;
using HsmVault.Host.Configuration;
using HsmVault.Host.Health;
using HsmVault.Host.Listener;
using HsmVault.Host.Pipeline;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HsmVault.Host.Tests;

[TestClass]
public sealed class VaultHostTests
{
    [TestMethod]
    public void Invalid_options_are_all_reported_by_name()
    {
        HostConfigurationException ex = Assert.ThrowsExactly<HostConfigurationException>(
            () => VaultHost.Build(["--Host:ListenAddress=nowhere", "--Hsm:Endpoint=http://hsm", "--Health:ListenAddress=10.0.0.1", "--Host:MaxConnections=0", "--Hsm:MaxReconnectDelay=00:00:00.1"]));

        StringAssert.Contains(ex.Message, "Host:ListenAddress");
        StringAssert.Contains(ex.Message, "Hsm:Endpoint");
        StringAssert.Contains(ex.Message, "Health:ListenAddress");
        StringAssert.Contains(ex.Message, "Host:MaxConnections");
        StringAssert.Contains(ex.Message, "Hsm:MaxReconnectDelay");
        Assert.HasCount(5, ex.Problems);
    }

    [TestMethod]
    public void A_value_of_the_wrong_type_is_reported_with_its_key()
    {
        HostConfigurationException ex = Assert.ThrowsExactly<HostConfigurationException>(
            () => VaultHost.Build(["--Host:Port=abc", "--Hsm:Endpoint=tcp:127.0.0.1:9"]));

        StringAssert.Contains(ex.Message, "Host:Port");
    }

    [TestMethod]
    public void Environment_variables_with_the_hsmvault_prefix_configure_the_host()
    {
        using var directory = new TempDirectory();
        Environment.SetEnvironmentVariable("HSMVAULT_Host__MaxInFlightRequests", "17");
        try
        {
            using IHost host = VaultHost.Build(["--Hsm:Endpoint=tcp:127.0.0.1:9", $"--Store:Path={directory.File("h.db")}"]);
            Assert.AreEqual(17, host.Services.GetRequiredService<ClientListenerOptions>().MaxInFlightRequests);
        }
        finally
        {
            Environment.SetEnvironmentVariable("HSMVAULT_Host__MaxInFlightRequests", null);
        }
    }

    [TestMethod]
    public async Task The_whole_host_serves_clients_reports_health_and_drains_on_stop()
    {
        using var directory = new TempDirectory();
        var enclave = new FakeEnclave();
        using IHost host = VaultHost.Build(
            ["--Host:Port=0", "--Health:Port=0", $"--Store:Path={directory.File("host.db")}", "--Logging:LogLevel:Default=Warning"],
            _ => enclave);
        await host.StartAsync();
        var pipeline = host.Services.GetRequiredService<VaultPipeline>();
        await VaultPipelineTests.WaitUntilAsync(() => pipeline.Status == ServiceStatus.Serving);
        int port = host.Services.GetRequiredService<ClientListener>().LocalEndPoint!.Port;
        int healthPort = host.Services.GetRequiredService<HealthEndpoint>().LocalEndPoint!.Port;

        using TcpClient client = new();
        await client.ConnectAsync("127.0.0.1", port);
        NetworkStream stream = client.GetStream();
        var codec = new FrameCodec();
        ClientRequest register = Requests.RegisterFinish("alice", "blob");
        await codec.WriteAsync(stream, register);
        ClientResponse registered = (await ListenerHarness.ReadResponseAsync(stream))!;
        (int status, string body) = await HttpGetAsync(healthPort, "/health");
        using JsonDocument health = JsonDocument.Parse(body);
        (_, string metrics) = await HttpGetAsync(healthPort, "/metrics");

        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, TestChannel.Open(register, registered).ResultCase);
        Assert.AreEqual(200, status);
        Assert.AreEqual("serving", health.RootElement.GetProperty("status").GetString());
        Assert.AreEqual("serving at log index 1", health.RootElement.GetProperty("detail").GetString());
        Assert.IsTrue(health.RootElement.GetProperty("enclaveReachable").GetBoolean());
        Assert.AreEqual(1UL, health.RootElement.GetProperty("logIndex").GetUInt64());
        Assert.AreEqual(1, health.RootElement.GetProperty("records").GetInt64());
        Assert.AreEqual(1, PrometheusText.Value(metrics, "hsmvault_host_requests_total"), metrics);

        // A request in flight when stop begins is still answered.
        enclave.Gate = new TaskCompletionSource();
        int entered = enclave.BatchesEntered;
        ClientRequest login = Requests.LoginStart("alice");
        await codec.WriteAsync(stream, login);
        await VaultPipelineTests.WaitUntilAsync(() => enclave.BatchesEntered == entered + 1);
        Task stopping = host.StopAsync();
        await Task.Delay(100);
        enclave.Gate.SetResult();
        ClientResponse answered = (await ListenerHarness.ReadResponseAsync(stream))!;
        await stopping;

        Assert.AreEqual(VaultResponse.ResultOneofCase.LoginStarted, TestChannel.Open(login, answered).ResultCase);
    }

    [TestMethod]
    public async Task Over_tcp_the_host_relays_sealed_answers_byte_for_byte_and_refuses_bad_clear_fields_itself()
    {
        using var directory = new TempDirectory();
        var enclave = new FakeEnclave();
        using IHost host = VaultHost.Build(
            ["--Host:Port=0", "--Health:Enabled=false", $"--Store:Path={directory.File("host.db")}", "--Logging:LogLevel:Default=Warning"],
            _ => enclave);
        await host.StartAsync();
        await VaultPipelineTests.WaitUntilAsync(() => host.Services.GetRequiredService<VaultPipeline>().Status == ServiceStatus.Serving);
        using TcpClient client = new();
        await client.ConnectAsync("127.0.0.1", host.Services.GetRequiredService<ClientListener>().LocalEndPoint!.Port);
        NetworkStream stream = client.GetStream();
        var codec = new FrameCodec();

        ClientRequest status = Requests.Status("alice");
        await codec.WriteAsync(stream, status);
        ClientResponse answered = (await ListenerHarness.ReadResponseAsync(stream))!;
        ClientRequest keyless = Requests.Status("bob");
        keyless.EncapsulatedKey = ByteString.Empty;
        await codec.WriteAsync(stream, keyless);
        ClientResponse refused = (await ListenerHarness.ReadResponseAsync(stream))!;
        await host.StopAsync();

        // What the enclave got is what the client sent, and what the client got is what the enclave sealed.
        Assert.AreEqual(status, enclave.Received.Single().Client);
        CollectionAssert.AreEqual(enclave.SealedResponses.Single().ToByteArray(), answered.SealedResponse.ToByteArray());
        Assert.AreEqual(VaultResponse.ResultOneofCase.Status, TestChannel.Open(status, answered).ResultCase);
        Assert.AreEqual(ErrorCode.BadRequest, refused.Error.Code);
        Assert.AreEqual(ClientRequest.EncapsulatedKeyField, refused.Error.Field);
        Assert.AreEqual(keyless.RequestId, refused.RequestId);
    }

    [TestMethod]
    public async Task Health_reports_503_while_the_hsm_is_unreachable()
    {
        using var directory = new TempDirectory();
        var enclave = new FakeEnclave { Down = true };
        using IHost host = VaultHost.Build(
            ["--Host:Port=0", "--Health:Port=0", $"--Store:Path={directory.File("host.db")}", "--Hsm:ReconnectDelay=00:00:00.05", "--Hsm:MaxReconnectDelay=00:00:00.2", "--Logging:LogLevel:Default=None"],
            _ => enclave);
        await host.StartAsync();
        int healthPort = host.Services.GetRequiredService<HealthEndpoint>().LocalEndPoint!.Port;
        await VaultPipelineTests.WaitUntilAsync(() => host.Services.GetRequiredService<VaultPipeline>().Status == ServiceStatus.Unavailable);

        (int status, string body) = await HttpGetAsync(healthPort, "/health");
        using JsonDocument health = JsonDocument.Parse(body);
        (int missing, _) = await HttpGetAsync(healthPort, "/nothing");

        Assert.AreEqual(503, status);
        Assert.AreEqual("unavailable", health.RootElement.GetProperty("status").GetString());
        Assert.IsFalse(health.RootElement.GetProperty("enclaveReachable").GetBoolean());
        Assert.AreEqual(404, missing);
        await host.StopAsync();
    }

    /// <summary>GETs a path of the loopback health endpoint; the status code and the body text.</summary>
    internal static async Task<(int Status, string Body)> HttpGetAsync(int port, string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using HttpResponseMessage response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}

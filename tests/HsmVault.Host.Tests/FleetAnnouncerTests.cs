using System.Net;
using System.Text;
using Google.Protobuf;
using HsmVault.Enclave;
using HsmVault.Host.Fleet;
using HsmVault.Host.Transparency;
using HsmVault.Protocol.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;
using HsmVault.Testing;
using HsmVault.Transparency.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace HsmVault.Host.Tests;

/// <summary>
/// The host's side of over-the-air fleets: it announces the channel key its HSM reports beside the
/// newest bundle of its namespace (from a file or the witness's HTTP API), answers FleetQuery with
/// it, attaches it to a request that did not open, and keeps the last good bundle when the source
/// goes bad. None of it is trusted by clients (OverTheAirClientTests); these show the host relays
/// what it should.
/// </summary>
[TestClass]
public sealed class FleetAnnouncerTests
{
    [TestMethod]
    public async Task The_host_announces_its_HSMs_channel_key_with_the_bundle_and_attaches_it_to_unopened_requests()
    {
        using var directory = new TempDirectory();
        var hsm = new InMemoryHsmServices(77);
        using var log = new TestLog();
        string bundle = log.Bundle(log.Append(1, FleetOf(hsm)).Index).ToJson();
        File.WriteAllText(directory.File("bundle.json"), bundle);
        await using PipelineHarness harness = await PipelineHarness.StartAsync(new InProcessEnclaveBridge(new VaultEnclave(hsm, VaultPolicy.Default)));
        using var announcer = Announcer(new TransparencyOptions { BundleFile = directory.File("bundle.json") }, harness.Bridge);
        var handler = new AnnouncingRequestHandler(harness.Pipeline, announcer);

        Assert.IsTrue(await announcer.RefreshAsync(CancellationToken.None));
        ClientResponse query = await handler.SubmitAsync(new ClientRequest { RequestId = 5, FleetQuery = new FleetQuery() });
        ClientResponse unopened = await handler.SubmitAsync(Requests.Seal("alice", new VaultRequest { Status = new StatusQuery() }, TestChannel.Key.PublicKey));
        ClientResponse opened = await handler.SubmitAsync(Requests.Seal("alice", new VaultRequest { Status = new StatusQuery() }, hsm.ChannelPublicKey));

        Assert.AreEqual(5ul, query.RequestId);
        Assert.AreEqual(ClientResponse.ResultOneofCase.None, query.ResultCase);
        CollectionAssert.AreEqual(hsm.ChannelPublicKey, query.FleetAnnouncement.ChannelPublicKey.ToByteArray(), "the key the HSM reports");
        Assert.AreEqual(bundle, query.FleetAnnouncement.ValidationBundle);
        Assert.AreEqual(ClientRequest.SealedRequestField, unopened.Error.Field);
        Assert.AreEqual(bundle, unopened.FleetAnnouncement?.ValidationBundle, "attached to the refusal");
        Assert.AreEqual(ClientResponse.ResultOneofCase.SealedResponse, opened.ResultCase);
        Assert.IsNull(opened.FleetAnnouncement, "an answer from the fleet goes out as it came");
    }

    [TestMethod]
    public async Task A_fleet_member_reads_the_channel_key_from_its_fleet_state()
    {
        var bridge = new FleetMemberBridge(7, 8);
        InMemoryHsmServices hsm = bridge.Hsm;
        using var directory = new TempDirectory();
        using var log = new TestLog();
        File.WriteAllText(directory.File("bundle.json"), log.Bundle(log.Append(1, FleetOf(hsm)).Index).ToJson());
        using var announcer = Announcer(new TransparencyOptions { BundleFile = directory.File("bundle.json") }, bridge, fleet: true);

        Assert.IsTrue(await announcer.RefreshAsync(CancellationToken.None));
        CollectionAssert.AreEqual(hsm.ChannelPublicKey, announcer.Current!.ChannelPublicKey.ToByteArray());
    }

    [TestMethod]
    public async Task A_bad_or_missing_bundle_keeps_the_last_good_one_and_nothing_is_announced_before_the_first()
    {
        using var directory = new TempDirectory();
        var hsm = new InMemoryHsmServices(78);
        using var log = new TestLog();
        string path = directory.File("bundle.json");
        var bridge = await InitializedAsync(hsm);
        using var announcer = Announcer(new TransparencyOptions { BundleFile = path }, bridge);
        var handler = new AnnouncingRequestHandler(new EchoHandler(), announcer);

        Assert.IsFalse(await announcer.RefreshAsync(CancellationToken.None), "no file yet");
        ClientResponse none = await handler.SubmitAsync(new ClientRequest { FleetQuery = new FleetQuery() });
        Assert.AreEqual(ErrorCode.Unavailable, none.Error.Code);
        Assert.AreEqual("fleet_query", none.Error.Field);

        string good = log.Bundle(log.Append(1, FleetOf(hsm)).Index).ToJson();
        File.WriteAllText(path, good);
        Assert.IsTrue(await announcer.RefreshAsync(CancellationToken.None));
        File.WriteAllText(path, good.Replace("hsmvault-validation-bundle/v1", "something-else", StringComparison.Ordinal));
        Assert.IsFalse(await announcer.RefreshAsync(CancellationToken.None), "not a bundle");
        File.Delete(path);
        Assert.IsFalse(await announcer.RefreshAsync(CancellationToken.None), "gone");

        Assert.AreEqual(good, announcer.Current!.ValidationBundle);
    }

    [TestMethod]
    public async Task The_bundle_is_fetched_from_the_witness_over_HTTP_and_a_refusal_is_not_announced()
    {
        var hsm = new InMemoryHsmServices(79);
        using var log = new TestLog("fleet-http");
        string bundle = log.Bundle(log.Append(1, FleetOf(hsm)).Index).ToJson();
        int port = Loopback.FreePort();
        using var server = new HttpListener();
        server.Prefixes.Add($"http://127.0.0.1:{port}/");
        server.Start();
        var paths = new List<string>();
        HttpStatusCode status = HttpStatusCode.OK;
        Task serving = Task.Run(async () =>
        {
            while (server.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await server.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                lock (paths)
                {
                    paths.Add(context.Request.Url!.AbsolutePath);
                }

                context.Response.StatusCode = (int)status;
                byte[] body = Encoding.UTF8.GetBytes(status == HttpStatusCode.OK ? bundle : "no such namespace");
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
        });
        var bridge = await InitializedAsync(hsm);
        using var announcer = Announcer(new TransparencyOptions { Witness = $"http://127.0.0.1:{port}", Namespace = "fleet-http" }, bridge);

        Assert.IsTrue(await announcer.RefreshAsync(CancellationToken.None));
        status = HttpStatusCode.NotFound;
        Assert.IsFalse(await announcer.RefreshAsync(CancellationToken.None));
        server.Stop();
        await serving;

        Assert.AreEqual(bundle, announcer.Current!.ValidationBundle);
        CollectionAssert.AreEqual(new[] { "/v1/log/fleet-http/bundle", "/v1/log/fleet-http/bundle" }, paths);
    }

    [TestMethod]
    [DataRow("ftp://witness", "ns", "", "Transparency:Witness")]
    [DataRow("http://127.0.0.1:7380/", "", "", "Transparency:Namespace: required")]
    [DataRow("http://127.0.0.1:7380/", "Bad Name", "", "Transparency:Namespace: 'Bad Name'")]
    [DataRow("http://127.0.0.1:7380/", "ns", "bundle.json", "not both")]
    public void Bad_settings_name_the_option(string witness, string @namespace, string file, string expected)
    {
        var options = new TransparencyOptions { Witness = witness, Namespace = @namespace, BundleFile = file };
        IReadOnlyList<string> problems = options.Problems();
        Assert.IsTrue(problems.Any(p => p.Contains(expected, StringComparison.Ordinal)), string.Join(" | ", problems));
        Assert.AreEqual(0, new TransparencyOptions().Problems().Count, "off by default");
    }

    private static FleetAnnouncer Announcer(TransparencyOptions options, Bridge.IHsmBridge bridge, bool fleet = false) =>
        new(options, bridge, fleet ? new FleetOptions { Peers = "tcp:127.0.0.1:1", Self = 0 } : new FleetOptions(), NullLogger<FleetAnnouncer>.Instance);

    // A single HSM the pipeline has initialized: only then does it report its state.
    private static async Task<InProcessEnclaveBridge> InitializedAsync(InMemoryHsmServices hsm)
    {
        var bridge = new InProcessEnclaveBridge(new VaultEnclave(hsm, VaultPolicy.Default));
        EnclaveResponse response = await bridge.SendAsync(new EnclaveRequest { Initialize = new InitializeRequest() }, CancellationToken.None);
        Assert.AreEqual(EnclaveResponse.KindOneofCase.State, response.KindCase);
        return bridge;
    }

    private static FleetKeySet FleetOf(InMemoryHsmServices hsm) => FleetKeySet.Create("fleet-test", hsm.ChannelPublicKey, hsm.AkePublicKey);
}

using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HsmVault.Client.Transparency;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;
using HsmVault.Transparency.Tests;

namespace HsmVault.Witness.Tests;

[TestClass]
public sealed class CosignerTests
{
    private const string Ns = "fleet-test";

    [TestMethod]
    public async Task A_further_witness_cosigns_each_checkpoint_and_a_client_requires_k_of_n()
    {
        await using Pair pair = await Pair.StartAsync();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        (HttpStatusCode status, string body) = await pair.Log.PostAppendAsync(Ns, 1, fleet);
        Assert.AreEqual(HttpStatusCode.Created, status, body);
        using (JsonDocument answer = JsonDocument.Parse(body))
        {
            StringAssert.Contains(answer.RootElement.GetProperty("cosigners")[0].GetString(), "cosigned size 1");
        }

        WitnessLogEntry entry = WitnessLogEntry.Parse(await pair.Log.GetAsync(LogPaths.Entry(Ns, 0)));
        Assert.AreEqual(HttpStatusCode.OK, (await pair.Log.PostCounterSignatureAsync(Ns, 0, pair.Log.CounterSign(entry.WitnessSignature))).Status);
        await pair.Log.PublishAsync(Ns, 2, TestLog.NewFleet("fleet-b"));

        NoteVerifierKey cosigner = pair.Cosigner.Server.Cosigner!.VerifierKey;
        using NoteSigningKey absent = NoteSigningKey.Generate("absent.example", NoteSignatureType.Ed25519Cosignature);
        string bundle = await pair.Log.GetAsync(LogPaths.Bundle(Ns));
        BundleVerdict oneOfTwo = new ValidationBundleVerifier(pair.Log.Trust(Ns, 1, cosigner, absent.Verifier)).Verify(bundle, ValidationBundle.Parse(bundle).Entry.FleetKeys.ChannelPublicKey, null);
        Assert.IsInstanceOfType<BundleAccepted>(oneOfTwo, oneOfTwo.Describe());
        BundleVerdict twoOfTwo = new ValidationBundleVerifier(pair.Log.Trust(Ns, 2, cosigner, absent.Verifier)).Verify(bundle, ValidationBundle.Parse(bundle).Entry.FleetKeys.ChannelPublicKey, null);
        Assert.IsInstanceOfType<BundleCosignaturesInsufficient>(twoOfTwo, twoOfTwo.Describe());

        // The cosigner serves its own view of the log (c2sp.org/tlog-witness monitor retrieval).
        string originHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(pair.Origin)));
        SignedNote view = SignedNote.Parse(await pair.Cosigner.GetAsync($"{originHash}/checkpoint"));
        Assert.AreEqual(2, Checkpoint.Parse(view.Text).Size);
        CollectionAssert.AreEquivalent(new[] { pair.Log.Server.Log.VerifierKey, cosigner }, view.Verify([pair.Log.Server.Log.VerifierKey, cosigner]).ToArray());
    }

    [TestMethod]
    public async Task Add_checkpoint_answers_with_the_status_codes_of_the_specification()
    {
        await using Pair pair = await Pair.StartAsync();
        await pair.Log.PublishAsync(Ns, 1, TestLog.NewFleet("fleet-a"));
        await pair.Log.PublishAsync(Ns, 2, TestLog.NewFleet("fleet-b"));
        SignedNote logSigned = pair.Log.Server.Log.Read(Ns, l => l.LogCheckpointAt(2))!;

        (HttpStatusCode stale, string size, string? type) = await pair.AddCheckpointAsync($"old 0\n\n{logSigned}");
        Assert.AreEqual(HttpStatusCode.Conflict, stale);
        Assert.AreEqual("2\n", size);
        Assert.AreEqual("text/x.tlog.size", type);

        using NoteSigningKey stranger = NoteSigningKey.Generate(WitnessOptions.DefaultName, NoteSignatureType.Ed25519);
        Assert.AreEqual(HttpStatusCode.Forbidden, (await pair.AddCheckpointAsync($"old 2\n\n{SignedNote.Sign(logSigned.Text, stranger)}")).Status, "not signed by the log's key");
        using NoteSigningKey otherLog = NoteSigningKey.Generate("other.example", NoteSignatureType.Ed25519);
        Assert.AreEqual(HttpStatusCode.NotFound, (await pair.AddCheckpointAsync($"old 0\n\n{SignedNote.Sign(new Checkpoint("other.example/log", 1, new byte[32]).ToText(), otherLog)}")).Status, "an unknown origin");
        Assert.AreEqual(HttpStatusCode.BadRequest, (await pair.AddCheckpointAsync($"old 3\n\n{logSigned}")).Status, "old size above the checkpoint's");
        Assert.AreEqual(HttpStatusCode.BadRequest, (await pair.AddCheckpointAsync("not a request")).Status);

        // A fork: size 3 with a root that does not extend size 2, signed by the log's own key.
        using NoteSigningKey logKey = NoteSigningKey.Parse(File.ReadAllText(Path.Combine(pair.Log.State, "witness.key")).Trim());
        SignedNote forked = SignedNote.Sign(new Checkpoint(pair.Origin, 3, SHA256.HashData("fork"u8)).ToText(), logKey);
        Assert.AreEqual(HttpStatusCode.UnprocessableEntity, (await pair.AddCheckpointAsync($"old 2\n{Convert.ToBase64String(new byte[32])}\n\n{forked}")).Status);
        (HttpStatusCode same, _, _) = await pair.AddCheckpointAsync($"old 2\n\n{logSigned}");
        Assert.AreEqual(HttpStatusCode.OK, same, "the same size again, same root: cosigned again");
    }

    [TestMethod]
    public async Task A_cosigner_that_is_down_costs_its_cosignature_not_the_append()
    {
        int closedPort;
        using (var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            closedPort = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        using NoteSigningKey nobody = NoteSigningKey.Generate("down.example", NoteSignatureType.Ed25519Cosignature);
        await using TestWitness witness = await TestWitness.StartAsync(configure: o => o with
        {
            Cosigners = [new CosignerEndpoint(nobody.Verifier, new Uri($"http://127.0.0.1:{closedPort}/"))],
            CosignerTimeout = TimeSpan.FromSeconds(2),
        });
        (HttpStatusCode status, string body) = await witness.PostAppendAsync(Ns, 1, TestLog.NewFleet("fleet-a"));
        Assert.AreEqual(HttpStatusCode.Created, status);
        StringAssert.Contains(body, "down.example: unreachable");
        Assert.AreEqual(1, SignedNote.Parse(await witness.GetAsync(LogPaths.Checkpoint(Ns))).Signatures.Count);
    }

    /// <summary>A log witness and a second witness that cosigns its namespace's checkpoints.</summary>
    private sealed class Pair : IAsyncDisposable
    {
        private Pair(TestWitness log, TestWitness cosigner, string origin)
        {
            Log = log;
            Cosigner = cosigner;
            Origin = origin;
        }

        public TestWitness Log { get; }

        public TestWitness Cosigner { get; }

        public string Origin { get; }

        public static async Task<Pair> StartAsync()
        {
            // The log's key exists before it starts, so the cosigner can be told which log it cosigns.
            string logState = Directory.CreateTempSubdirectory("hsmvault-witness-log-").FullName;
            NoteVerifierKey logKey;
            using (NoteSigningKey key = WitnessKeyFile.LoadOrCreate(Path.Combine(logState, "witness.key"), WitnessOptions.DefaultName, NoteSignatureType.Ed25519))
            {
                logKey = key.Verifier;
            }

            string origin = FleetNamespace.Origin(WitnessOptions.DefaultName, Ns);
            TestWitness cosigner = await TestWitness.StartAsync(configure: o => o with
            {
                Name = "cosigner.test.example",
                CosignedLogs = new Dictionary<string, NoteVerifierKey> { [origin] = logKey },
            });
            var endpoint = new CosignerEndpoint(cosigner.Server.Cosigner!.VerifierKey, cosigner.Address);
            TestWitness log = await TestWitness.StartAsync(logState, configure: o => o with { Cosigners = [endpoint] });
            return new Pair(log, cosigner, origin);
        }

        public async Task<(HttpStatusCode Status, string Body, string? Type)> AddCheckpointAsync(string body)
        {
            using HttpResponseMessage response = await Cosigner.Http.PostAsync("add-checkpoint", new StringContent(body, Encoding.UTF8, "text/plain"));
            return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType);
        }

        public async ValueTask DisposeAsync()
        {
            await Log.DisposeAsync();
            Directory.Delete(Log.State, recursive: true);
            await Cosigner.DisposeAsync();
        }
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HsmVault.Client.Transparency;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency;
using HsmVault.Transparency.Epochs;

namespace HsmVault.Witness.Tests;

/// <summary>
/// A witness running in this process on a free loopback port, over a temp state folder, with a
/// software stand-in for the operator's HSM key (the HSM key itself is tested in OperatorTokenTests):
/// appends and counter-signatures go through the real HTTP API.
/// </summary>
internal sealed class TestWitness : IAsyncDisposable
{
    private readonly bool _ownsState;

    private TestWitness(WitnessServer server, string state, ECDsa operatorKey, bool ownsState)
    {
        Server = server;
        State = state;
        Operator = operatorKey;
        _ownsState = ownsState;
        Http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public WitnessServer Server { get; }

    public string State { get; }

    public ECDsa Operator { get; }

    public HttpClient Http { get; }

    public Uri Address => Server.Address;

    public OperatorKey OperatorPublicKey => PublicOf(Operator);

    public static async Task<TestWitness> StartAsync(string? state = null, ECDsa? operatorKey = null, Func<WitnessOptions, WitnessOptions>? configure = null)
    {
        bool owns = state is null;
        state ??= Directory.CreateTempSubdirectory("hsmvault-witness-").FullName;
        operatorKey ??= ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var options = new WitnessOptions(state, WitnessOptions.DefaultName, PublicOf(operatorKey)) { Port = 0 };
        WitnessServer server = await WitnessServer.StartAsync(configure?.Invoke(options) ?? options, CancellationToken.None);
        return new TestWitness(server, state, operatorKey, owns);
    }

    public TransparencyTrust Trust(string @namespace, int quorum = 0, params HsmVault.Transparency.Notes.NoteVerifierKey[] cosigners) =>
        new(@namespace, Server.Log.VerifierKey, OperatorPublicKey, cosigners, quorum);

    public byte[] SignAppend(string @namespace, long epoch, FleetKeySet fleetKeys) =>
        Operator.SignData(OperatorKey.AppendRequestMessage(new EpochStatement(@namespace, epoch, fleetKeys.Digest)), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    public byte[] CounterSign(byte[] witnessSignature) =>
        Operator.SignData(OperatorKey.CounterSignatureMessage(witnessSignature), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    /// <summary>POSTs an append; returns the status and body.</summary>
    public async Task<(HttpStatusCode Status, string Body)> PostAppendAsync(string @namespace, long epoch, FleetKeySet fleetKeys, byte[]? authorization = null)
    {
        string body = Json.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WriteNumber("epoch", epoch);
            writer.WritePropertyName("fleet_keys");
            using (var file = JsonDocument.Parse(fleetKeys.ToCanonicalJson()))
            {
                file.RootElement.WriteTo(writer);
            }

            writer.WriteString("authorization", Convert.ToBase64String(authorization ?? SignAppend(@namespace, epoch, fleetKeys)));
            writer.WriteEndObject();
        });
        using HttpResponseMessage response = await Http.PostAsync(LogPaths.Namespace(@namespace) + "/append", new StringContent(body, Encoding.UTF8, "application/json"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>POSTs a counter-signature of an entry.</summary>
    public async Task<(HttpStatusCode Status, string Body)> PostCounterSignatureAsync(string @namespace, long index, byte[] counterSignature)
    {
        using HttpResponseMessage response = await Http.PostAsync($"{LogPaths.Entry(@namespace, index)}/counter-signature", new StringContent(Convert.ToBase64String(counterSignature), Encoding.UTF8, "text/plain"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Appends and counter-signs an epoch as the operator would; returns the counter-signed entry.</summary>
    public async Task<WitnessLogEntry> PublishAsync(string @namespace, long epoch, FleetKeySet fleetKeys, bool counterSign = true)
    {
        (HttpStatusCode status, string body) = await PostAppendAsync(@namespace, epoch, fleetKeys);
        Assert.AreEqual(HttpStatusCode.Created, status, body);
        using JsonDocument answer = JsonDocument.Parse(body);
        WitnessLogEntry entry = WitnessLogEntry.FromJson(answer.RootElement.GetProperty("entry"), "entry");
        if (!counterSign)
        {
            return entry;
        }

        (HttpStatusCode signed, string signedBody) = await PostCounterSignatureAsync(@namespace, entry.Index, CounterSign(entry.WitnessSignature));
        Assert.AreEqual(HttpStatusCode.OK, signed, signedBody);
        return WitnessLogEntry.Parse(signedBody);
    }

    public async Task<string> GetAsync(string path)
    {
        using HttpResponseMessage response = await Http.GetAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, $"{path}: {body}");
        return body;
    }

    /// <summary>Stops the server but keeps the state folder (for a restart on it).</summary>
    public async Task StopAsync() => await Server.DisposeAsync();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        if (_ownsState)
        {
            try
            {
                Directory.Delete(State, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static OperatorKey PublicOf(ECDsa key)
    {
        ECParameters p = key.ExportParameters(false);
        return OperatorKey.FromPublicKey([0x04, .. p.Q.X!, .. p.Q.Y!]);
    }
}

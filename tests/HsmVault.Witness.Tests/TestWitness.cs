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
        Client = new WitnessHttp(Http, operatorKey);
    }

    public WitnessServer Server { get; }

    public string State { get; }

    public ECDsa Operator { get; }

    public HttpClient Http { get; }

    /// <summary>The operator's side of the HTTP API, with the software key.</summary>
    public WitnessHttp Client { get; }

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

    public byte[] SignAppend(string @namespace, long epoch, FleetKeySet fleetKeys) => Client.SignAppend(@namespace, epoch, fleetKeys);

    public byte[] CounterSign(byte[] witnessSignature) => Client.CounterSign(witnessSignature);

    public Task<(HttpStatusCode Status, string Body)> PostAppendAsync(string @namespace, long epoch, FleetKeySet fleetKeys, byte[]? authorization = null) =>
        Client.PostAppendAsync(@namespace, epoch, fleetKeys, authorization);

    public Task<(HttpStatusCode Status, string Body)> PostCounterSignatureAsync(string @namespace, long index, byte[] counterSignature) =>
        Client.PostCounterSignatureAsync(@namespace, index, counterSignature);

    public Task<WitnessLogEntry> PublishAsync(string @namespace, long epoch, FleetKeySet fleetKeys, bool counterSign = true) =>
        Client.PublishAsync(@namespace, epoch, fleetKeys, counterSign);

    public Task<string> GetAsync(string path) => Client.GetAsync(path);

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

    internal static OperatorKey PublicOf(ECDsa key)
    {
        ECParameters p = key.ExportParameters(false);
        return OperatorKey.FromPublicKey([0x04, .. p.Q.X!, .. p.Q.Y!]);
    }
}

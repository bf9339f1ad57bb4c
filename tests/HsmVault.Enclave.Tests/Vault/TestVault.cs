using Google.Protobuf;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>
/// An enclave over seeded in-memory HSM services, driven by the shared honest in-memory host.
/// It keeps the HSM and the enclave at hand for tests that inspect them, and records every
/// response for determinism checks. Tests that play a hostile host build their own operations
/// and witnesses.
/// </summary>
internal sealed class TestVault
{
    private readonly InMemoryVaultHost _host;
    private readonly List<byte[]> _transcript = [];

    public TestVault(ulong seed, VaultPolicy? policy = null, Func<IHsmServices, IHsmServices>? wrap = null, InMemoryNvram? nvram = null)
    {
        IHsmServices inner = nvram is null ? new InMemoryHsmServices(seed) : new InMemoryHsmServices(seed, nvram);
        Hsm = wrap is null ? inner : wrap(inner);
        Enclave = new VaultEnclave(Hsm, policy ?? VaultPolicy.Default);
        // Seeded client randomness too, so the same seed gives the same sealed requests and answers.
        _host = new InMemoryVaultHost(Exchange, new SeededRandomSource(seed ^ 0x5EA1ED));
    }

    /// <summary>A vault with "alice" registered under password "right" and <paramref name="blob"/>: where the hostile-host tests start.</summary>
    public static (TestVault Vault, TestUser Alice) WithAlice(ulong seed, byte[] blob)
    {
        var vault = new TestVault(seed);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", blob);
        return (vault, alice);
    }

    public IHsmServices Hsm { get; }

    public VaultEnclave Enclave { get; }

    public IReadOnlyList<LogEntry> Log => _host.Log;

    /// <summary>Every encoded response the enclave sent through the host, in order.</summary>
    public IReadOnlyList<byte[]> Transcript => _transcript;

    public RecordWitness WitnessFor(ByteString userId) => _host.WitnessFor(userId);

    /// <summary>Seals the request as a client would and wraps it; <see cref="Open"/> reads the answer.</summary>
    public Operation OperationFor(UserRequest request) => _host.OperationFor(request);

    /// <summary>Wraps a wire request as it is, for tests that play a hostile host.</summary>
    public Operation OperationFor(ClientRequest request) => _host.OperationFor(request);

    /// <inheritdoc cref="InMemoryVaultHost.Open"/>
    public VaultResponse Open(OperationResult result) => _host.Open(result);

    /// <inheritdoc cref="InMemoryVaultHost.Seal"/>
    public SealedRequest Seal(UserRequest request) => _host.Seal(request);

    public byte[] ChannelPublicKey => _host.ChannelPublicKey;

    /// <inheritdoc cref="InMemoryVaultHost.Submit"/>
    public BatchResult Submit(IEnumerable<Operation> operations) => _host.Submit(operations);

    public OperationResult SubmitOne(Operation operation) => _host.SubmitOne(operation);

    public VaultResponse Send(UserRequest request) => _host.Send(request);

    public ClientResponse SendRaw(ClientRequest request) => _host.SendRaw(request);

    public StateReport State() => _host.State();

    /// <inheritdoc cref="InMemoryVaultHost.ApplyRecovered"/>
    public void ApplyRecovered(StateReport state) => _host.ApplyRecovered(state);

    /// <summary>Applies a batch result obtained outside <see cref="Submit"/> to the host's store.</summary>
    public void Apply(BatchResult result) => _host.Apply(result);

    private byte[] Exchange(byte[] request)
    {
        byte[] response = Enclave.Handle(request);
        _transcript.Add(response);
        return response;
    }
}

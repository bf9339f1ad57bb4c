using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Testing;

/// <summary>
/// An honest untrusted host in miniature, for enclave tests and benchmarks: it keeps the sealed
/// records and the Merkle tree in memory, attaches witnesses, sends each batch through the
/// enclave's byte entry point and applies the returned writes, checking the new root against the
/// log entry. The transport is a function, so the enclave may be in process, behind a bridge, or
/// timed by the caller; the store outlives the enclave, so <see cref="Reattach"/> can point it at a
/// restarted one.
/// </summary>
public sealed class InMemoryVaultHost
{
    private readonly List<LogEntry> _log = [];
    private readonly Dictionary<ulong, SealedRequest> _sealed = [];
    private Func<byte[], byte[]> _transport;
    private ulong _nextTag;

    private readonly IRandomSource? _clientRandom;

    /// <summary>
    /// Initializes the enclave behind <paramref name="transport"/> and starts from its committed root.
    /// <paramref name="clientRandom"/> draws the channel's ephemeral keys for the requests this host
    /// seals (the system RNG when null; a seeded one makes whole runs reproducible).
    /// </summary>
    public InMemoryVaultHost(Func<byte[], byte[]> transport, IRandomSource? clientRandom = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _transport = transport;
        _clientRandom = clientRandom;
        StateReport state = Initialize();
        _store = new InMemoryRecordStore(state.MerkleRoot.Span);
    }

    private readonly InMemoryRecordStore _store;

    /// <summary>The enclave's AKE public key, the OPAQUE server identity, from the last initialize.</summary>
    public byte[] AkePublicKey { get; private set; } = [];

    /// <summary>The fleet's channel key (65 bytes) from the last initialize: what clients seal to.</summary>
    public byte[] ChannelPublicKey { get; private set; } = [];

    public SparseMerkleTree Tree => _store.Tree;

    /// <summary>The log entries of every batch applied, in order.</summary>
    public IReadOnlyList<LogEntry> Log => _log;

    /// <summary>Encoded size of the last witness proof built, in bytes.</summary>
    public int LastProofBytes { get; private set; }

    public int LastProofSiblings { get; private set; }

    /// <summary>Points the host at a restarted enclave; its committed root must equal the host's tree.</summary>
    public StateReport Reattach(Func<byte[], byte[]> transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _transport = transport;
        StateReport state = Initialize();
        if (!state.MerkleRoot.Span.SequenceEqual(Tree.Root))
        {
            throw new InvalidOperationException("the restarted enclave's root differs from the host's tree");
        }

        return state;
    }

    /// <summary>One request through the enclave's byte entry point, as the real host sends it.</summary>
    public EnclaveResponse Call(EnclaveRequest request) => EnclaveResponse.Parser.ParseFrom(_transport(request.ToByteArray()));

    public StateReport State()
    {
        EnclaveResponse response = Call(new EnclaveRequest { State = new StateQuery() });
        return response.KindCase == EnclaveResponse.KindOneofCase.State
            ? response.State
            : throw new InvalidOperationException($"the state query failed: {response}");
    }

    public RecordWitness WitnessFor(ByteString userId)
    {
        RecordWitness witness = _store.WitnessFor(userId);
        LastProofBytes = witness.Proof.CalculateSize();
        LastProofSiblings = witness.Proof.Siblings.Count;
        return witness;
    }

    /// <summary>Wraps a wire request as it is (a hostile host's, say) with a fresh tag and the witness of the user it names.</summary>
    public Operation OperationFor(ClientRequest request) => new()
    {
        Tag = ++_nextTag,
        Client = request,
        Witness = WitnessFor(request.UserId),
    };

    /// <summary>Seals <paramref name="request"/> to the channel key as a client would, and wraps it; <see cref="Open"/> reads the answer.</summary>
    public Operation OperationFor(UserRequest request)
    {
        SealedRequest sealedRequest = SealedRequest.Seal(ChannelPublicKey, request, _nextTag + 1, _clientRandom);
        Operation operation = OperationFor(sealedRequest.Request);
        _sealed[operation.Tag] = sealedRequest;
        return operation;
    }

    /// <summary>Seals a request to the channel key without sending it.</summary>
    public SealedRequest Seal(UserRequest request) => SealedRequest.Seal(ChannelPublicKey, request, _nextTag + 1, _clientRandom);

    /// <summary>
    /// The client's view of <paramref name="result"/>: the sealed answer opened with the key of the
    /// request sent under that tag (a clear error as a <see cref="VaultResponse"/> error). Throws when
    /// the outcome carries no client answer or the answer does not open.
    /// </summary>
    public VaultResponse Open(OperationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Client is null || result.Outcome is not (OperationOutcome.OutcomeOk or OperationOutcome.OutcomeClientError))
        {
            throw new ChannelRefusedException($"outcome {result.Outcome} carries no client answer: {result.Detail}");
        }

        if (!_sealed.Remove(result.Tag, out SealedRequest? sealedRequest))
        {
            throw new InvalidOperationException($"no sealed request was sent under tag {result.Tag}");
        }

        using (sealedRequest)
        {
            return sealedRequest.Open(result.Client);
        }
    }

    /// <summary>Sends one batch as bytes and applies its writes; a request-level error throws <see cref="EnclaveRefusedException"/>.</summary>
    public BatchResult Submit(IEnumerable<Operation> operations)
    {
        var batch = new Batch();
        batch.Operations.AddRange(operations);
        EnclaveResponse response = Call(new EnclaveRequest { Batch = batch });
        switch (response.KindCase)
        {
            case EnclaveResponse.KindOneofCase.Batch:
                Apply(response.Batch);
                return response.Batch;
            case EnclaveResponse.KindOneofCase.Error:
                throw new EnclaveRefusedException(response.Error);
            default:
                throw new InvalidOperationException($"the enclave answered a batch with {response.KindCase}");
        }
    }

    public OperationResult SubmitOne(Operation operation) => Submit([operation]).Results.Single();

    /// <summary>Seals and sends the requests as one batch (all witnesses built against the current root) and opens the answers.</summary>
    public IReadOnlyList<VaultResponse> SendBatch(IEnumerable<UserRequest> requests) =>
        [.. Submit([.. requests.Select(OperationFor)]).Results.Select(Open)];

    /// <summary>Seals, sends and opens one request: what an honest client sees.</summary>
    public VaultResponse Send(UserRequest request) => Open(SubmitOne(OperationFor(request)));

    /// <summary>Sends a wire request as it is and returns the wire answer.</summary>
    public ClientResponse SendRaw(ClientRequest request) => SubmitOne(OperationFor(request)).Client;

    /// <summary>Replays the last committed batch from a state report, as a host does after losing a response.</summary>
    public void ApplyRecovered(StateReport state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var result = new BatchResult { Entry = state.LastEntry };
        result.Writes.AddRange(state.LastWrites);
        Apply(result);
    }

    /// <summary>Applies a batch result to the store; throws when the tree then disagrees with the entry's root.</summary>
    public void Apply(BatchResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Entry is null)
        {
            return;
        }

        _store.Apply(result.Writes);

        if (!Tree.Root.AsSpan().SequenceEqual(result.Entry.MerkleRoot.Span))
        {
            throw new InvalidOperationException("the host's tree diverged from the enclave's root");
        }

        _log.Add(result.Entry);
    }

    private StateReport Initialize()
    {
        EnclaveResponse response = Call(new EnclaveRequest { Initialize = new InitializeRequest() });
        if (response.KindCase != EnclaveResponse.KindOneofCase.State)
        {
            throw new InvalidOperationException($"initialize failed: {response}");
        }

        AkePublicKey = response.State.AkePublicKey.ToByteArray();
        ChannelPublicKey = response.State.ChannelPublicKey.ToByteArray();
        return response.State;
    }
}

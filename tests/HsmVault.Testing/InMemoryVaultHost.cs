using Google.Protobuf;
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
    private readonly Dictionary<string, SealedRecord> _records = [];
    private readonly List<LogEntry> _log = [];
    private Func<byte[], byte[]> _transport;
    private ulong _nextTag;

    /// <summary>Initializes the enclave behind <paramref name="transport"/> and starts from its committed root.</summary>
    public InMemoryVaultHost(Func<byte[], byte[]> transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _transport = transport;
        StateReport state = Initialize();
        Tree = new SparseMerkleTree(new InMemoryMerkleNodeStore(), state.MerkleRoot.Span);
    }

    /// <summary>The enclave's AKE public key, the OPAQUE server identity, from the last initialize.</summary>
    public byte[] AkePublicKey { get; private set; } = [];

    public SparseMerkleTree Tree { get; }

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
        ArgumentNullException.ThrowIfNull(userId);
        byte[] key = MerkleHashing.UserKey(userId.Span);
        MerkleProof proof = Tree.Prove(key);
        LastProofBytes = proof.CalculateSize();
        LastProofSiblings = proof.Siblings.Count;
        var witness = new RecordWitness { Proof = proof };
        if (_records.TryGetValue(Convert.ToHexString(key), out SealedRecord? record))
        {
            // A copy, so a test that tampers with the witness cannot change the host's store.
            witness.Record = record.Clone();
        }

        return witness;
    }

    /// <summary>Wraps a client request with a fresh tag and a witness built against the current root.</summary>
    public Operation OperationFor(ClientRequest request) => new()
    {
        Tag = ++_nextTag,
        Client = request,
        // A request with no operation gets an empty user's witness; the enclave must refuse it.
        Witness = WitnessFor(request.NamedUser().UserId ?? ByteString.Empty),
    };

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

    /// <summary>Sends the requests as one batch (all witnesses built against the current root).</summary>
    public IReadOnlyList<ClientResponse> SendBatch(IEnumerable<ClientRequest> requests) =>
        [.. Submit(requests.Select(OperationFor)).Results.Select(result => result.Client)];

    public ClientResponse Send(ClientRequest request) => SubmitOne(OperationFor(request)).Client;

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

        foreach (RecordWrite write in result.Writes)
        {
            string key = Convert.ToHexString(write.Key.Span);
            if (write.Record is null)
            {
                Tree.Remove(write.Key.Span);
                _records.Remove(key);
            }
            else
            {
                Tree.Set(write.Key.Span, MerkleHashing.RecordValueHash(write.Record));
                _records[key] = write.Record;
            }
        }

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
        return response.State;
    }
}

using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>
/// An enclave over seeded in-memory HSM services plus an honest host in miniature: it keeps
/// the sealed records and the Merkle tree, attaches witnesses, and applies each batch's writes.
/// Tests that play a hostile host build their own operations and witnesses.
/// </summary>
internal sealed class TestVault
{
    private readonly Dictionary<string, SealedRecord> _records = [];
    private ulong _nextTag;

    public TestVault(ulong seed, VaultPolicy? policy = null, Func<IHsmServices, IHsmServices>? wrap = null, InMemoryNvram? nvram = null)
    {
        IHsmServices inner = nvram is null ? new InMemoryHsmServices(seed) : new InMemoryHsmServices(seed, nvram);
        Hsm = wrap is null ? inner : wrap(inner);
        Enclave = new VaultEnclave(Hsm, policy ?? VaultPolicy.Default);
        EnclaveResponse init = Enclave.Handle(new EnclaveRequest { Initialize = new InitializeRequest() });
        if (init.KindCase != EnclaveResponse.KindOneofCase.State)
        {
            throw new InvalidOperationException($"initialize failed: {init}");
        }

        Tree = new SparseMerkleTree(Nodes, init.State.MerkleRoot.Span);
    }

    public IHsmServices Hsm { get; }

    public VaultEnclave Enclave { get; }

    public InMemoryMerkleNodeStore Nodes { get; } = new();

    public SparseMerkleTree Tree { get; private set; }

    public List<LogEntry> Log { get; } = [];

    /// <summary>Every encoded response, in order, for determinism checks.</summary>
    public List<byte[]> Transcript { get; } = [];

    public RecordWitness WitnessFor(ByteString userId)
    {
        byte[] key = MerkleHashing.UserKey(userId.Span);
        var witness = new RecordWitness { Proof = Tree.Prove(key) };
        if (_records.TryGetValue(Convert.ToHexString(key), out SealedRecord? record))
        {
            witness.Record = record.Clone();
        }

        return witness;
    }

    public static ByteString UserIdOf(ClientRequest request) => request.OperationCase switch
    {
        ClientRequest.OperationOneofCase.RegisterStart => request.RegisterStart.UserId,
        ClientRequest.OperationOneofCase.RegisterFinish => request.RegisterFinish.UserId,
        ClientRequest.OperationOneofCase.LoginStart => request.LoginStart.UserId,
        ClientRequest.OperationOneofCase.LoginFinish => request.LoginFinish.UserId,
        ClientRequest.OperationOneofCase.Status => request.Status.UserId,
        _ => ByteString.Empty,
    };

    public Operation OperationFor(ClientRequest request) => new()
    {
        Tag = ++_nextTag,
        Client = request,
        Witness = WitnessFor(UserIdOf(request)),
    };

    /// <summary>Sends a batch as bytes, as the host does, and applies its store delta.</summary>
    public BatchResult Submit(IEnumerable<Operation> operations)
    {
        var batch = new Batch();
        batch.Operations.AddRange(operations);
        byte[] responseBytes = Enclave.Handle(new EnclaveRequest { Batch = batch }.ToByteArray());
        Transcript.Add(responseBytes);
        EnclaveResponse response = EnclaveResponse.Parser.ParseFrom(responseBytes);
        if (response.KindCase != EnclaveResponse.KindOneofCase.Batch)
        {
            throw new EnclaveRefusedException(response.Error);
        }

        Apply(response.Batch);
        return response.Batch;
    }

    public OperationResult SubmitOne(Operation operation) => Submit([operation]).Results.Single();

    public ClientResponse Send(ClientRequest request) => SubmitOne(OperationFor(request)).Client;

    public StateReport State() => Enclave.Handle(new EnclaveRequest { State = new StateQuery() }).State;

    /// <summary>Replays the last committed batch from a state report, as a host does after losing a response.</summary>
    public void ApplyRecovered(StateReport state)
    {
        var result = new BatchResult { Entry = state.LastEntry };
        result.Writes.AddRange(state.LastWrites);
        Apply(result);
    }

    /// <summary>Applies a batch result obtained outside <see cref="Submit"/> to the host's store.</summary>
    public void Apply(BatchResult result)
    {
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

        Log.Add(result.Entry);
    }
}

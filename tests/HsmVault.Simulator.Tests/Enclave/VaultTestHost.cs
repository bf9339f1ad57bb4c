using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Simulator.Tests.Enclave;

/// <summary>
/// An honest untrusted host in miniature for enclave-over-HSM tests: it keeps the sealed records
/// and the Merkle tree, attaches witnesses, sends batches as bytes and applies the returned writes.
/// The store outlives the enclave, so a test can restart the enclave and keep the records.
/// </summary>
internal sealed class VaultTestHost
{
    private readonly Dictionary<string, SealedRecord> _records = [];
    private readonly InMemoryMerkleNodeStore _nodes = new();
    private Func<byte[], byte[]> _send;
    private SparseMerkleTree _tree;
    private ulong _nextTag;

    public VaultTestHost(Func<byte[], byte[]> send)
    {
        _send = send;
        StateReport state = Initialize();
        _tree = new SparseMerkleTree(_nodes, state.MerkleRoot.Span);
    }

    /// <summary>The AKE public key of the enclave, the OPAQUE server identity.</summary>
    public byte[] AkePublicKey { get; private set; } = [];

    public byte[] Root => _tree.Root;

    public int RecordCount => _records.Count;

    /// <summary>Points the host at a restarted enclave; its committed root must equal the host's tree.</summary>
    public StateReport Reattach(Func<byte[], byte[]> send)
    {
        _send = send;
        StateReport state = Initialize();
        if (!state.MerkleRoot.Span.SequenceEqual(_tree.Root))
        {
            throw new InvalidOperationException("the restarted enclave's root differs from the host's tree");
        }

        return state;
    }

    public EnclaveResponse Call(EnclaveRequest request) => EnclaveResponse.Parser.ParseFrom(_send(request.ToByteArray()));

    public Operation OperationFor(ClientRequest request)
    {
        ByteString userId = request.OperationCase switch
        {
            ClientRequest.OperationOneofCase.RegisterStart => request.RegisterStart.UserId,
            ClientRequest.OperationOneofCase.RegisterFinish => request.RegisterFinish.UserId,
            ClientRequest.OperationOneofCase.LoginStart => request.LoginStart.UserId,
            ClientRequest.OperationOneofCase.LoginFinish => request.LoginFinish.UserId,
            ClientRequest.OperationOneofCase.Status => request.Status.UserId,
            _ => throw new ArgumentException($"operation {request.OperationCase} is not sent by this host", nameof(request)),
        };
        byte[] key = MerkleHashing.UserKey(userId.Span);
        var witness = new RecordWitness { Proof = _tree.Prove(key) };
        if (_records.TryGetValue(Convert.ToHexString(key), out SealedRecord? record))
        {
            witness.Record = record.Clone();
        }

        return new Operation { Tag = ++_nextTag, Client = request, Witness = witness };
    }

    /// <summary>Sends one batch (all witnesses built against the current root) and applies its writes.</summary>
    public IReadOnlyList<ClientResponse> SendBatch(IEnumerable<ClientRequest> requests)
    {
        var batch = new Batch();
        batch.Operations.AddRange(requests.Select(OperationFor));
        EnclaveResponse response = Call(new EnclaveRequest { Batch = batch });
        if (response.KindCase != EnclaveResponse.KindOneofCase.Batch)
        {
            throw new InvalidOperationException($"the enclave refused the batch: {response}");
        }

        Apply(response.Batch);
        return [.. response.Batch.Results.Select(result => result.Client)];
    }

    public ClientResponse Send(ClientRequest request) => SendBatch([request])[0];

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

    private void Apply(BatchResult result)
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
                _tree.Remove(write.Key.Span);
                _records.Remove(key);
            }
            else
            {
                _tree.Set(write.Key.Span, MerkleHashing.RecordValueHash(write.Record));
                _records[key] = write.Record;
            }
        }

        if (!_tree.Root.AsSpan().SequenceEqual(result.Entry.MerkleRoot.Span))
        {
            throw new InvalidOperationException("the host's tree diverged from the enclave's root");
        }
    }
}

using System.Diagnostics;
using Google.Protobuf;
using HsmVault.Enclave;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Benchmarks;

/// <summary>
/// The host's part for the enclave benchmark: keeps records and the Merkle tree, builds
/// witnesses, sends batches through the enclave's byte entry point and times only that call.
/// </summary>
internal sealed class EnclaveBenchHost
{
    private readonly Dictionary<string, SealedRecord> _records = [];
    private readonly VaultEnclave _enclave;
    private readonly SparseMerkleTree _tree;
    private ulong _tag;

    public EnclaveBenchHost(IHsmServices hsm)
    {
        _enclave = new VaultEnclave(hsm, VaultPolicy.Default);
        EnclaveResponse init = EnclaveResponse.Parser.ParseFrom(_enclave.Handle(new EnclaveRequest { Initialize = new InitializeRequest() }.ToByteArray()));
        if (init.KindCase != EnclaveResponse.KindOneofCase.State)
        {
            throw new InvalidOperationException($"initialize failed: {init}");
        }

        AkePublicKey = init.State.AkePublicKey.ToByteArray();
        _tree = new SparseMerkleTree(new InMemoryMerkleNodeStore(), init.State.MerkleRoot.Span);
    }

    public byte[] AkePublicKey { get; }

    /// <summary>Time spent inside <see cref="VaultEnclave.Handle(ReadOnlySpan{byte})"/> since the last reset.</summary>
    public TimeSpan EnclaveTime { get; set; }

    /// <summary>Encoded size of the last witness proof built, in bytes.</summary>
    public int LastProofBytes { get; private set; }

    public int LastProofSiblings { get; private set; }

    public IReadOnlyList<ClientResponse> SendBatch(IReadOnlyList<ClientRequest> requests, Func<ClientRequest, ByteString> userIdOf)
    {
        var batch = new Batch();
        foreach (ClientRequest request in requests)
        {
            byte[] key = MerkleHashing.UserKey(userIdOf(request).Span);
            MerkleProof proof = _tree.Prove(key);
            LastProofBytes = proof.CalculateSize();
            LastProofSiblings = proof.Siblings.Count;
            var witness = new RecordWitness { Proof = proof };
            if (_records.TryGetValue(Convert.ToHexString(key), out SealedRecord? record))
            {
                witness.Record = record;
            }

            batch.Operations.Add(new Operation { Tag = ++_tag, Client = request, Witness = witness });
        }

        byte[] encoded = new EnclaveRequest { Batch = batch }.ToByteArray();
        long start = Stopwatch.GetTimestamp();
        byte[] answer = _enclave.Handle(encoded);
        EnclaveTime += Stopwatch.GetElapsedTime(start);
        EnclaveResponse response = EnclaveResponse.Parser.ParseFrom(answer);
        if (response.KindCase != EnclaveResponse.KindOneofCase.Batch)
        {
            throw new InvalidOperationException($"the enclave refused the batch: {response.Error}");
        }

        if (response.Batch.Entry is not null)
        {
            foreach (RecordWrite write in response.Batch.Writes)
            {
                if (write.Record is null)
                {
                    _tree.Remove(write.Key.Span);
                    _records.Remove(Convert.ToHexString(write.Key.Span));
                }
                else
                {
                    _tree.Set(write.Key.Span, MerkleHashing.RecordValueHash(write.Record));
                    _records[Convert.ToHexString(write.Key.Span)] = write.Record;
                }
            }
        }

        return [.. response.Batch.Results.Select(result => result.Client)];
    }
}

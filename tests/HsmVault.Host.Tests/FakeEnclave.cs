using System.Security.Cryptography;
using Google.Protobuf;
using HsmVault.Crypto.Channel;
using HsmVault.Host.Bridge;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>
/// A small stand-in for the enclave behind <see cref="IHsmBridge"/>: it keeps its own Merkle tree,
/// checks witnesses against it, writes records and chains log entries like the real one, and
/// lets a test take the HSM down, slow it, or rewrite its answers. Like the real one it opens
/// each request with the channel key (<see cref="TestChannel.Key"/>) and seals each answer to the
/// request's client, so the host only ever relays ciphertext. Record "ciphertext" is the
/// uploaded blob followed by a guess counter, so tests can see what was stored.
/// </summary>
internal sealed class FakeEnclave : IHsmBridge
{
    private readonly Lock _gate = new();
    private readonly InMemoryMerkleNodeStore _nodes = new();
    private readonly Dictionary<byte[], SealedRecord> _records = new(ByteArrayComparer.Instance);
    private SparseMerkleTree _tree;
    private byte[] _mac = Enumerable.Repeat((byte)0xA5, 32).ToArray();
    private int _concurrent;

    public FakeEnclave(bool initialized = true)
    {
        _tree = new SparseMerkleTree(_nodes);
        Initialized = initialized;
    }

    public bool Initialized { get; private set; }

    public ulong LogIndex { get; private set; }

    public byte[] Root => _tree.Root;

    /// <summary>When true every call throws <see cref="HsmUnavailableException"/>.</summary>
    public volatile bool Down;

    /// <summary>Delay before each batch is handled.</summary>
    public TimeSpan BatchDelay { get; set; }

    /// <summary>Completes when set; each batch waits for it first (lets tests queue requests behind a batch).</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Rewrites a batch response after the fake has applied the batch.</summary>
    public Func<EnclaveResponse, EnclaveResponse>? RewriteBatch { get; set; }

    /// <summary>Overrides the outcome of an operation that opened, before it is applied (null: behave normally). Gets the operation and what it opened to.</summary>
    public Func<Operation, VaultRequest?, OperationResult?>? ForceOutcome { get; set; }

    /// <summary>Whether state reports carry the last committed entry and writes (false: as after an enclave restart).</summary>
    public bool ReportLastEntry { get; set; } = true;

    /// <summary>When true the next batch is applied but its response is lost (the call throws).</summary>
    public volatile bool LoseNextResponse;

    /// <summary>Operation counts of the batches handled.</summary>
    public List<int> BatchSizes { get; } = [];

    /// <summary>Every operation of every batch, as received (to check what the host relayed).</summary>
    public List<Operation> Received { get; } = [];

    /// <summary>Every sealed response the fake made, in order (to check the host relays them unchanged).</summary>
    public List<ByteString> SealedResponses { get; } = [];

    /// <summary>Anything the fake saw that breaks the bridge contract (e.g. a user twice in a batch).</summary>
    public List<string> Violations { get; } = [];

    public int MaxConcurrentCalls { get; private set; }

    /// <summary>Batches that reached the fake (including ones still waiting at the gate).</summary>
    public int BatchesEntered => Volatile.Read(ref _batchesEntered);

    private int _batchesEntered;

    public async Task<EnclaveResponse> SendAsync(EnclaveRequest request, CancellationToken cancellationToken)
    {
        if (Down)
        {
            throw new HsmUnavailableException("fake HSM is down");
        }

        int now = Interlocked.Increment(ref _concurrent);
        MaxConcurrentCalls = Math.Max(MaxConcurrentCalls, now);
        try
        {
            if (request.KindCase == EnclaveRequest.KindOneofCase.Batch)
            {
                Interlocked.Increment(ref _batchesEntered);
                if (Gate is { } gate)
                {
                    await gate.Task.WaitAsync(cancellationToken);
                }

                if (BatchDelay > TimeSpan.Zero)
                {
                    await Task.Delay(BatchDelay, cancellationToken);
                }
            }

            lock (_gate)
            {
                EnclaveResponse response = Handle(request);
                if (response.KindCase == EnclaveResponse.KindOneofCase.Batch && LoseNextResponse)
                {
                    LoseNextResponse = false;
                    throw new HsmUnavailableException("fake HSM: the response was lost");
                }

                return response.KindCase == EnclaveResponse.KindOneofCase.Batch && RewriteBatch is { } rewrite ? rewrite(response) : response;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _concurrent);
        }
    }

    /// <summary>Registers a user directly in the fake (the host's store does not learn of it).</summary>
    public void RegisterBehindTheHostsBack(string user)
    {
        lock (_gate)
        {
            var batch = new Batch();
            batch.Operations.Add(new Operation { Tag = 1, Client = Requests.RegisterFinish(user, "blob") });
            RecordWitness witness = new() { Proof = _tree.Prove(MerkleHashing.UserKey(user)) };
            batch.Operations[0].Witness = witness;
            Handle(new EnclaveRequest { Batch = batch });
        }
    }

    private EnclaveResponse Handle(EnclaveRequest request)
    {
        switch (request.KindCase)
        {
            case EnclaveRequest.KindOneofCase.Initialize:
                Initialized = true;
                return new EnclaveResponse { State = Report() };
            case EnclaveRequest.KindOneofCase.State:
                return Initialized
                    ? new EnclaveResponse { State = Report() }
                    : new EnclaveResponse { Error = new EnclaveError { Code = EnclaveErrorCode.NotInitialized, Message = "no genesis" } };
            case EnclaveRequest.KindOneofCase.Batch:
                return new EnclaveResponse { Batch = HandleBatch(request.Batch) };
            default:
                return new EnclaveResponse { Error = new EnclaveError { Code = EnclaveErrorCode.MalformedRequest, Message = "no kind" } };
        }
    }

    private StateReport Report()
    {
        var report = new StateReport
        {
            LogIndex = LogIndex,
            MerkleRoot = ByteString.CopyFrom(_tree.Root),
            EntryMac = ByteString.CopyFrom(_mac),
            AttemptLimit = 10,
        };
        if (ReportLastEntry && _last?.Entry is { } entry)
        {
            report.LastEntry = entry;
            report.LastWrites.AddRange(_last.Writes);
        }

        return report;
    }

    private BatchResult? _last;

    private BatchResult HandleBatch(Batch batch)
    {
        BatchSizes.Add(batch.Operations.Count);
        byte[] startRoot = _tree.Root;
        var seen = new HashSet<byte[]>(ByteArrayComparer.Instance);
        var result = new BatchResult();
        var writes = new List<RecordWrite>();
        foreach (Operation operation in batch.Operations)
        {
            Received.Add(operation.Clone());
            byte[] userId = operation.Client.UserId.ToByteArray();
            byte[] key = MerkleHashing.UserKey(userId);
            if (!seen.Add(key))
            {
                Violations.Add("a user appears twice in one batch");
                result.Results.Add(new OperationResult { Tag = operation.Tag, Outcome = OperationOutcome.OutcomeStaleWitness, Detail = "user twice" });
                continue;
            }

            // The host cannot see which operation a request is, so it must send a witness for every one.
            if (operation.Witness?.Proof is null)
            {
                Violations.Add("an operation arrived without a witness");
            }

            // As the real enclave: a request that does not open gets a clear error and changes nothing.
            if (!TestChannel.TryOpenRequest(operation.Client, out VaultRequest? opened, out ChannelResponder? responder))
            {
                result.Results.Add(new OperationResult
                {
                    Tag = operation.Tag,
                    Outcome = OperationOutcome.OutcomeClientError,
                    Client = new ClientResponse
                    {
                        RequestId = operation.Client.RequestId,
                        Error = new Error { Code = ErrorCode.BadRequest, Field = ClientRequest.SealedRequestField, Message = "does not open under the fleet's channel key for this user id" },
                    },
                    Detail = "sealed_request: does not open",
                });
                continue;
            }

            using (responder!)
            {
                if (ForceOutcome?.Invoke(operation, opened) is { } forced)
                {
                    forced.Tag = operation.Tag;
                    result.Results.Add(forced);
                    continue;
                }

                if (!WitnessMatches(operation, key, startRoot))
                {
                    result.Results.Add(new OperationResult { Tag = operation.Tag, Outcome = OperationOutcome.OutcomeStaleWitness, Detail = "witness does not match the root" });
                    continue;
                }

                VaultResponse response = Answer(opened, userId, key, writes);
                ByteString sealedResponse = TestChannel.SealResponse(responder!, response);
                SealedResponses.Add(sealedResponse);
                result.Results.Add(new OperationResult
                {
                    Tag = operation.Tag,
                    // Whatever the answer says is for the client alone: the outcome is OK either way.
                    Outcome = OperationOutcome.OutcomeOk,
                    Client = new ClientResponse { RequestId = operation.Client.RequestId, SealedResponse = sealedResponse },
                });
            }
        }

        if (writes.Count > 0)
        {
            LogIndex++;
            var entry = new LogEntry { Index = LogIndex, PreviousMac = ByteString.CopyFrom(_mac), MerkleRoot = ByteString.CopyFrom(_tree.Root) };
            foreach (RecordWrite write in writes)
            {
                entry.Updates.Add(new LeafUpdate { Key = write.Key, ValueHash = write.Record is null ? ByteString.Empty : ByteString.CopyFrom(MerkleHashing.RecordValueHash(write.Record)) });
            }

            _mac = SHA256.HashData([.. _mac, .. _tree.Root, .. BitConverter.GetBytes(LogIndex)]);
            entry.Mac = ByteString.CopyFrom(_mac);
            result.Entry = entry;
            result.Writes.AddRange(writes);
            _last = result.Clone();
        }

        return result;
    }

    private VaultResponse Answer(VaultRequest? request, byte[] userId, byte[] key, List<RecordWrite> writes)
    {
        ulong version = LogIndex + 1;
        _records.TryGetValue(key, out SealedRecord? record);
        VaultResponse response = new();
        switch (request?.OperationCase)
        {
            case VaultRequest.OperationOneofCase.RegisterStart:
                response.RegisterStarted = new RegisterStarted { RegistrationResponse = ByteString.CopyFrom(new byte[66]), RegistrationSession = ByteString.CopyFrom(key) };
                break;
            case VaultRequest.OperationOneofCase.RegisterFinish:
                writes.Add(Write(userId, key, new SealedRecord { Version = version, Ciphertext = ByteString.CopyFrom([.. request.RegisterFinish.EncryptedKeyBlob.Span, 0]) }));
                response.Registered = new Registered();
                break;
            case VaultRequest.OperationOneofCase.LoginStart when record is not null:
                byte[] counted = record.Ciphertext.ToByteArray();
                counted[^1]++;
                writes.Add(Write(userId, key, new SealedRecord { Version = version, Ciphertext = ByteString.CopyFrom(counted) }));
                response.LoginStarted = new LoginStarted { Ke2 = ByteString.CopyFrom(new byte[320]), LoginSession = ByteString.CopyFrom(key) };
                break;
            case VaultRequest.OperationOneofCase.LoginStart:
                response.LoginStarted = new LoginStarted { Ke2 = ByteString.CopyFrom(new byte[320]), LoginSession = ByteString.CopyFrom(key) };
                break;
            case VaultRequest.OperationOneofCase.LoginFinish when record is not null && request.LoginFinish.Ke3.ToStringUtf8() == "good":
                if (request.LoginFinish.Action == LoginAction.Delete)
                {
                    writes.Add(new RecordWrite { UserId = ByteString.CopyFrom(userId), Key = ByteString.CopyFrom(key) });
                    _records.Remove(key);
                    _tree.Remove(key);
                    response.Deleted = new Deleted();
                }
                else
                {
                    response.Recovered = new Recovered { SealedKeyBlob = ByteString.CopyFrom(record.Ciphertext.Span[..^1]) };
                }

                break;
            case VaultRequest.OperationOneofCase.LoginFinish:
                response.Error = new Error { Code = ErrorCode.AuthFailed, Message = "bad ke3", AttemptsLeft = 9 };
                break;
            case VaultRequest.OperationOneofCase.Status:
                response.Status = new StatusReport { AttemptsLeft = record is null ? 0u : 10u - record.Ciphertext.Span[^1], AttemptLimit = 10 };
                break;
            default:
                response.Error = new Error { Code = ErrorCode.BadRequest, Field = "operation", Message = "no operation set" };
                break;
        }

        return response;
    }

    private RecordWrite Write(byte[] userId, byte[] key, SealedRecord record)
    {
        _records[key] = record;
        _tree.Set(key, MerkleHashing.RecordValueHash(record));
        return new RecordWrite { UserId = ByteString.CopyFrom(userId), Key = ByteString.CopyFrom(key), Record = record };
    }

    private bool WitnessMatches(Operation operation, byte[] key, byte[] startRoot)
    {
        if (operation.Witness?.Proof is null)
        {
            return false;
        }

        byte[] proofRoot;
        try
        {
            proofRoot = SparseMerkleTree.AddProof(new InMemoryMerkleNodeStore(), key, operation.Witness.Proof);
        }
        catch (MerkleProofException)
        {
            return false;
        }

        _records.TryGetValue(key, out SealedRecord? record);
        bool recordMatches = record is null ? operation.Witness.Record is null : record.Equals(operation.Witness.Record);
        return recordMatches && proofRoot.AsSpan().SequenceEqual(startRoot);
    }
}

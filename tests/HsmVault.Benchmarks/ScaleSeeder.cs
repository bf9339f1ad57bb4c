using System.Collections.Concurrent;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Benchmarks;

/// <summary>
/// Test and benchmark only: fills a vault with many registered records fast, through the enclave's
/// own batch path. It is a host in miniature that drives a <see cref="VaultEnclave"/> in this process
/// over the HSM services the simulator will serve later (the same SoftHSM2 token), and writes every
/// batch result into a real <see cref="IVaultStore"/> with the host's own commit: records sealed by
/// the HSM's record key, Merkle nodes, MAC-chained log entries, and an NVRAM root the enclave itself
/// committed. Nothing is written that the enclave did not produce, and no enclave or host code path
/// is added: a host started on the store and the token afterwards accepts them as its own.
/// <para>
/// What makes it fast, without changing what is stored: batches of 64 registrations (one NVRAM write
/// each); every filler user reuses one client registration request and one client-made registration
/// record (the enclave checks their form, not who made them), so the client does no OPAQUE work; the
/// filler requests are sealed to the channel key with one fixed HPKE ephemeral key, so the enclave's
/// channel Diffie-Hellman has the same input every time and <see cref="MemoizedChannelServices"/>
/// answers it from the first result (the HSM would compute the same bytes); witnesses are built from
/// a node cache in front of the store. Each filler still costs the enclave a real OPRF evaluation,
/// a sealed session, and a sealed record with its own credential nonce.
/// </para>
/// </summary>
public sealed class ScaleSeeder : IDisposable
{
    /// <summary>Filler user ids are this prefix and a number.</summary>
    public const string FillerPrefix = "filler-";

    /// <summary>The key blob every filler uploads: the size of a client's blob of a 32-byte key (version, nonce, key, tag).</summary>
    public const int FillerBlobBytes = 1 + 12 + 32 + 16;

    private const int BatchSize = 64;

    private readonly VaultEnclave _enclave;
    private readonly IVaultStore _store;
    private readonly NodeCache _nodes;
    private readonly byte[] _channelKey;
    private readonly FixedRandom _ephemeral = new();
    private readonly byte[] _request;
    private readonly byte[] _record;
    private readonly BlockingCollection<VaultCommit>? _mirrorQueue;
    private readonly Thread? _mirrorThread;
    private Exception? _mirrorFailure;
    private ulong _tag;

    /// <summary>
    /// Opens the enclave over <paramref name="hsm"/> (initialising it when its NVRAM is empty) and
    /// checks it agrees with <paramref name="store"/>. Every commit also goes to <paramref name="mirror"/>,
    /// on a thread of its own, so a second store (PostgreSQL) receives the same batches.
    /// </summary>
    public ScaleSeeder(IHsmServices hsm, VaultPolicy policy, IVaultStore store, IVaultStore? mirror = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _enclave = new VaultEnclave(new MemoizedChannelServices(hsm), policy);
        _store = store;
        _nodes = new NodeCache(store.Nodes);
        EnclaveResponse response = _enclave.Handle(new EnclaveRequest { Initialize = new InitializeRequest() });
        StateReport state = response.State ?? throw new InvalidOperationException($"initialize failed: {response}");
        Check(state, store, "store");
        if (mirror is not null)
        {
            Check(state, mirror, "mirror store");
            _mirrorQueue = new BlockingCollection<VaultCommit>(boundedCapacity: 16);
            _mirrorThread = new Thread(() => DrainMirror(mirror)) { IsBackground = true, Name = "seed mirror" };
            _mirrorThread.Start();
        }

        _channelKey = state.ChannelPublicKey.ToByteArray();

        // The filler template: one real client request, and the record a real client made from the enclave's answer.
        var client = new OpaqueClient(OpaqueConfiguration.ForTesting("HsmVault-v1"u8), SystemRandomSource.Instance);
        _request = client.CreateRegistrationRequest("filler"u8, out ClientRegistrationState template);
        ByteString templateUser = ByteString.CopyFromUtf8(FillerPrefix + "template");
        VaultResponse started = Send([Start(templateUser)], staged: null)[0];
        _record = client.FinalizeRegistration(template, started.RegisterStarted.RegistrationResponse.Span, state.AkePublicKey.Span, templateUser.Span).Record;
    }

    /// <summary>Records in the store (fillers and anyone registered before).</summary>
    public long Records => _store.State.RecordCount;

    /// <summary>
    /// Registers fillers <c>filler-{Records}</c>… until the store holds <paramref name="target"/>
    /// records; <paramref name="progress"/> hears the count after each batch.
    /// </summary>
    public void FillTo(long target, Action<long>? progress = null)
    {
        while (Records < target)
        {
            long first = Records;
            int n = (int)Math.Min(BatchSize, target - first);
            ByteString[] users = [.. Enumerable.Range(0, n).Select(i => ByteString.CopyFromUtf8(FillerPrefix + (first + i).ToString(System.Globalization.CultureInfo.InvariantCulture)))];
            IReadOnlyList<VaultResponse> started = Send([.. users.Select(Start)], staged: null);
            var finishes = new UserRequest[n];
            for (int i = 0; i < n; i++)
            {
                if (started[i].ResultCase != VaultResponse.ResultOneofCase.RegisterStarted)
                {
                    throw new InvalidOperationException($"filler {users[i].ToStringUtf8()}: {started[i]}");
                }

                finishes[i] = new UserRequest(users[i], new VaultRequest
                {
                    RegisterFinish = new RegisterFinish
                    {
                        RegistrationSession = started[i].RegisterStarted.RegistrationSession,
                        RegistrationRecord = ByteString.CopyFrom(_record),
                        EncryptedKeyBlob = ByteString.CopyFrom(new byte[FillerBlobBytes]),
                    },
                });
            }

            var staged = new StagedMerkleNodeStore(_nodes);
            IReadOnlyList<VaultResponse> finished = Send(finishes, staged);
            if (finished.FirstOrDefault(f => f.ResultCase != VaultResponse.ResultOneofCase.Registered) is { } refused)
            {
                throw new InvalidOperationException($"a filler registration was refused: {refused}");
            }

            progress?.Invoke(Records);
        }
    }

    /// <summary>Waits until the mirror store has every commit; throws what it failed with.</summary>
    public void Flush()
    {
        if (_mirrorQueue is null)
        {
            return;
        }

        _mirrorQueue.CompleteAdding();
        _mirrorThread!.Join();
        if (_mirrorFailure is not null)
        {
            throw new InvalidOperationException("the mirror store failed", _mirrorFailure);
        }
    }

    public void Dispose()
    {
        _mirrorQueue?.CompleteAdding();
        _mirrorThread?.Join();
        _mirrorQueue?.Dispose();
    }

    private UserRequest Start(ByteString user) =>
        new(user, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(_request) } });

    // Seals the requests as a client would (one fixed ephemeral key), sends one batch, commits what it
    // wrote the way the host does, and opens the answers. No staging store: the batch must write nothing.
    private List<VaultResponse> Send(IReadOnlyList<UserRequest> requests, StagedMerkleNodeStore? staged)
    {
        SparseMerkleTree? tree = staged is null ? null : new SparseMerkleTree(staged, _store.State.MerkleRoot);
        var pending = new PendingChannelResponse[requests.Count];
        var batch = new Batch();
        var operations = new Operation[requests.Count];
        Parallel.For(0, requests.Count, i =>
        {
            UserRequest request = requests[i];
            pending[i] = VaultChannel.SealRequest(_channelKey, request.UserId.Span, request.Request.ToByteArray(), _ephemeral, out byte[] enc, out byte[] ciphertext);
            operations[i] = new Operation
            {
                Client = new ClientRequest { UserId = request.UserId, EncapsulatedKey = ByteString.CopyFrom(enc), SealedRequest = ByteString.CopyFrom(ciphertext) },
            };
        });
        foreach (Operation operation in operations)
        {
            operation.Tag = ++_tag;
            if (tree is not null)
            {
                byte[] key = MerkleHashing.UserKey(operation.Client.UserId.Span);
                operation.Witness = new RecordWitness { Record = _store.FindRecord(key), Proof = tree.Prove(key) };
            }

            batch.Operations.Add(operation);
        }

        EnclaveResponse response = _enclave.Handle(new EnclaveRequest { Batch = batch });
        BatchResult result = response.Batch ?? throw new InvalidOperationException($"the enclave refused a seeding batch: {response}");
        if (result.Entry is not null)
        {
            if (tree is null)
            {
                throw new InvalidOperationException("a RegisterStart batch wrote a log entry");
            }

            Commit(result, tree, staged!);
        }

        var answers = new List<VaultResponse>(requests.Count);
        for (int i = 0; i < requests.Count; i++)
        {
            OperationResult one = result.Results[i];
            using PendingChannelResponse opener = pending[i];
            if (one.Tag != operations[i].Tag || one.Client?.ResultCase != ClientResponse.ResultOneofCase.SealedResponse
                || !opener.TryOpen(one.Client.SealedResponse.Span, out byte[] plaintext))
            {
                throw new InvalidOperationException($"seeding operation {i}: {one.Outcome} {one.Detail} {one.Client}");
            }

            answers.Add(VaultResponse.Parser.ParseFrom(plaintext));
        }

        return answers;
    }

    // The host's check and commit (VaultPipeline): keys are SHA-256 of the user ids, the writes lead to
    // the entry's root over the store's tree, and entry, writes and new nodes go in one transaction.
    private void Commit(BatchResult result, SparseMerkleTree tree, StagedMerkleNodeStore staged)
    {
        foreach (RecordWrite write in result.Writes)
        {
            if (!write.Key.Span.SequenceEqual(MerkleHashing.UserKey(write.UserId.Span)) || write.Record is null)
            {
                throw new InvalidOperationException("a seeding write is not a record under its user's key");
            }

            tree.Set(write.Key.Span, MerkleHashing.RecordValueHash(write.Record));
        }

        if (!tree.Root.AsSpan().SequenceEqual(result.Entry.MerkleRoot.Span))
        {
            throw new InvalidOperationException("the store's tree diverged from the enclave's root");
        }

        var commit = new VaultCommit(result.Entry, result.Writes, staged.Staged);
        _store.Commit(commit);
        _nodes.Remember(staged.Staged);
        if (_mirrorQueue is not null)
        {
            if (_mirrorFailure is not null)
            {
                throw new InvalidOperationException("the mirror store failed", _mirrorFailure);
            }

            _mirrorQueue.Add(commit);
        }
    }

    private void DrainMirror(IVaultStore mirror)
    {
        try
        {
            foreach (VaultCommit commit in _mirrorQueue!.GetConsumingEnumerable())
            {
                mirror.Commit(commit);
            }
        }
        catch (Exception ex) when (ex is StoreUnavailableException or StoreConflictException or IOException or InvalidOperationException)
        {
            _mirrorFailure = ex;
            while (_mirrorQueue!.TryTake(out _))
            {
                // Unblock the producer; it sees the failure at its next commit.
            }
        }
    }

    private static void Check(StateReport state, IVaultStore store, string name)
    {
        VaultStoreState s = store.State;
        if (s.LogIndex != state.LogIndex || !s.MerkleRoot.AsSpan().SequenceEqual(state.MerkleRoot.Span))
        {
            throw new InvalidOperationException($"the {name} (log index {s.LogIndex}) does not match the enclave (log index {state.LogIndex})");
        }
    }

    /// <summary>Always the same bytes: every filler request gets the same HPKE ephemeral key pair.</summary>
    private sealed class FixedRandom : IRandomSource
    {
        public void Fill(Span<byte> destination) => destination.Fill(0x5A);
    }

    /// <summary>
    /// A read cache in front of the store's committed nodes, in two generations: a node read or written
    /// lately stays, one untouched for a generation is dropped (the tree keeps every old node, and most
    /// old ones are never read again), so memory stays bounded however large the tree grows.
    /// </summary>
    private sealed class NodeCache(IMerkleNodeStore committed) : IMerkleNodeStore
    {
        private const int GenerationSize = 2_000_000;
        private Dictionary<byte[], MerkleNode> _young = new(ByteArrayComparer.Instance);
        private Dictionary<byte[], MerkleNode> _old = new(ByteArrayComparer.Instance);

        public bool TryGet(ReadOnlySpan<byte> hash, out MerkleNode node)
        {
            byte[] key = hash.ToArray();
            if (_young.TryGetValue(key, out node!))
            {
                return true;
            }

            if (_old.TryGetValue(key, out node!) || committed.TryGet(hash, out node!))
            {
                Add(key, node);
                return true;
            }

            return false;
        }

        public void Put(byte[] hash, MerkleNode node) => throw new InvalidOperationException("the seeder writes nodes through the store's commit only");

        public void Remember(IReadOnlyDictionary<byte[], MerkleNode> nodes)
        {
            foreach ((byte[] hash, MerkleNode node) in nodes)
            {
                Add(hash, node);
            }
        }

        private void Add(byte[] key, MerkleNode node)
        {
            if (_young.Count >= GenerationSize)
            {
                _old = _young;
                _young = new Dictionary<byte[], MerkleNode>(ByteArrayComparer.Instance);
            }

            _young[key] = node;
        }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Hpke;
using System.Security.Cryptography;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Benchmarks;

/// <summary>
/// Test and benchmark only: fills an empty vault with many registered records fast, through the
/// enclave's own batch path. It is a host in miniature that drives a <see cref="VaultEnclave"/> in this
/// process over the HSM services the simulator serves afterwards (the same SoftHSM2 token), checks
/// each batch result as the host does, and writes it into a real <see cref="IVaultStore"/> with the
/// store's own commit, one transaction per log entry: records sealed by the HSM's record key,
/// MAC-chained log entries, the Merkle nodes, and an NVRAM root the enclave itself committed. Nothing
/// is stored that the enclave did not produce, and no enclave or host code path is added: a host
/// started on the store and the token afterwards checks them at start-up and serves them as its own.
/// <para>
/// What makes it fast, without changing what a lookup meets: batches of 64 registrations (one NVRAM
/// write each); every filler reuses one client registration request and one client-made registration
/// record (the enclave checks their form, not who made them), so the client does no OPAQUE work; the
/// filler requests are sealed to the channel key with one fixed HPKE ephemeral key, so neither side
/// repeats the channel Diffie-Hellman: the client computes it once, and the enclave's
/// <see cref="MemoizedChannelServices"/> answers it from the first result (the HSM would compute the
/// same bytes); the tree lives in memory (its old paths dropped every 2^17 records) and its live
/// nodes go to the store once, in key order, with the last entry, so the store holds the tree a host
/// that prunes old nodes would keep; and the store commits entry k while the enclave runs batch k+1.
/// Each filler still costs the enclave a real OPRF evaluation, a sealed session, and a sealed record
/// with its own credential nonce.
/// </para>
/// </summary>
public sealed class ScaleSeeder : IDisposable
{
    /// <summary>Filler user ids are this prefix and a number.</summary>
    public const string FillerPrefix = "filler-";

    /// <summary>The key blob every filler uploads: the size of a client's blob of a 32-byte key (version, nonce, key, tag).</summary>
    public const int FillerBlobBytes = 1 + 12 + 32 + 16;

    private const int BatchSize = 64;

    // Records between two compactions of the in-memory tree (each keeps only the live nodes).
    private const long CompactEvery = 1 << 17;

    private static readonly IReadOnlyDictionary<byte[], MerkleNode> NoNodes = new Dictionary<byte[], MerkleNode>();

    private readonly VaultEnclave _enclave;
    private readonly IVaultStore _store;
    private InMemoryMerkleNodeStore _nodes = new();
    private SparseMerkleTree _tree;
    private readonly FillerChannel _channel;
    private readonly byte[] _request;
    private readonly byte[] _record;
    private readonly ByteString _templateUser = ByteString.CopyFromUtf8(FillerPrefix + "template");
    private readonly BlockingCollection<VaultCommit>? _mirrorQueue;
    private readonly Thread? _mirrorThread;
    private Exception? _mirrorFailure;
    private readonly VaultEnclave _starter;
    private long _tag;
    private long _sealTicks, _witnessTicks, _enclaveTicks, _commitTicks;

    /// <summary>
    /// Opens the enclave over <paramref name="hsm"/> (initialising it when its NVRAM is empty) and
    /// checks it agrees with <paramref name="store"/>. Every commit also goes to <paramref name="mirror"/>,
    /// on a thread of its own, so a second store (PostgreSQL) receives the same batches.
    /// </summary>
    /// <para>
    /// <paramref name="startHsm"/>, a second session on the same HSM, runs a second enclave instance
    /// that serves only the RegisterStarts (they write nothing and need no witness), beside the first,
    /// which runs the RegisterFinishes and commits: the next batch's OPRF evaluations overlap this
    /// batch's seals, as on an HSM with two cores.
    /// </para>
    public ScaleSeeder(IHsmServices hsm, VaultPolicy policy, IVaultStore store, IVaultStore? mirror = null, IHsmServices? startHsm = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _enclave = new VaultEnclave(new MemoizedChannelServices(hsm), policy);
        _starter = _enclave;
        _store = store;
        EnclaveResponse response = _enclave.Handle(new EnclaveRequest { Initialize = new InitializeRequest() });
        StateReport state = response.State ?? throw new InvalidOperationException($"initialize failed: {response}");
        Check(state, store, "store");
        if (store.State.RecordCount != 0)
        {
            throw new InvalidOperationException("the seeder fills an empty vault: the store already holds records");
        }

        _tree = new SparseMerkleTree(_nodes, state.MerkleRoot.Span);
        if (mirror is not null)
        {
            Check(state, mirror, "mirror store");
            _mirrorQueue = new BlockingCollection<VaultCommit>(boundedCapacity: 16);
            _mirrorThread = new Thread(() => DrainMirror(mirror)) { IsBackground = true, Name = "seed mirror" };
            _mirrorThread.Start();
        }

        _channel = new FillerChannel(state.ChannelPublicKey.ToByteArray());
        if (startHsm is not null)
        {
            _starter = new VaultEnclave(new MemoizedChannelServices(startHsm), policy);
            StateReport second = _starter.Handle(new EnclaveRequest { Initialize = new InitializeRequest() }).State
                ?? throw new InvalidOperationException("the second enclave instance did not initialise");
            if (!second.ChannelPublicKey.Equals(state.ChannelPublicKey) || second.LogIndex != state.LogIndex)
            {
                throw new InvalidOperationException("the second HSM session is not the same HSM");
            }
        }

        // The filler template: one real client request, and the record a real client made from the enclave's answer.
        var client = new OpaqueClient(OpaqueConfiguration.ForTesting("HsmVault-v1"u8), SystemRandomSource.Instance);
        _request = client.CreateRegistrationRequest("filler"u8, out ClientRegistrationState template);
        ByteString templateUser = _templateUser;
        VaultResponse started = Send(_enclave, [Start(templateUser)], out _)[0];
        _record = client.FinalizeRegistration(template, started.RegisterStarted.RegistrationResponse.Span, state.AkePublicKey.Span, templateUser.Span).Record;
    }

    /// <summary>Where the seeding time went: client sealing, witnesses, the enclave, the store commit.</summary>
    public TimeSpan SealTime => Ticks(_sealTicks);

    public TimeSpan WitnessTime => Ticks(_witnessTicks);

    /// <summary>Time inside the enclave instances' Handle, summed over both when two run side by side.</summary>
    public TimeSpan EnclaveTime => Ticks(_enclaveTicks);

    public TimeSpan CommitTime => Ticks(_commitTicks);

    private static TimeSpan Ticks(long stopwatchTicks) => Stopwatch.GetElapsedTime(0, stopwatchTicks);

    /// <summary>Records in the store (fillers and anyone registered before).</summary>
    public long Records => _store.State.RecordCount;

    /// <summary>
    /// Registers fillers <c>filler-{Records}</c>… until the store holds <paramref name="target"/>
    /// records; <paramref name="progress"/> hears the count after each batch.
    /// </summary>
    public void FillTo(long target, Action<long>? progress = null)
    {
        // Three stages: the store commits batch k, the first enclave instance runs batch k+1's
        // RegisterFinishes, and the second (when there is one) batch k+2's RegisterStarts.
        Task committing = Task.CompletedTask;
        long count = Records;
        Task<(ByteString[], List<VaultResponse>)>? starting = count < target ? Begin(count, target) : null;
        while (starting is not null)
        {
            (ByteString[] users, List<VaultResponse> started) = starting.GetAwaiter().GetResult();
            int n = users.Length;
            starting = count + n < target ? Begin(count + n, target) : null;
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

            IReadOnlyList<VaultResponse> finished = Send(_enclave, finishes, out BatchResult? written);
            if (finished.FirstOrDefault(f => f.ResultCase != VaultResponse.ResultOneofCase.Registered) is { } refused || written?.Entry is null)
            {
                throw new InvalidOperationException($"a filler registration was refused: {finished.FirstOrDefault(f => f.ResultCase != VaultResponse.ResultOneofCase.Registered)}");
            }

            count += n;
            bool last = count >= target;
            IReadOnlyDictionary<byte[], MerkleNode> nodes = NoNodes;
            if (last || count / CompactEvery != (count - n) / CompactEvery)
            {
                List<KeyValuePair<byte[], MerkleNode>> live = Compact();
                if (last)
                {
                    // The tree's nodes go to the store once, with the last entry: the live tree, in key order.
                    live.Sort((a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
                    nodes = new Dictionary<byte[], MerkleNode>(live, ByteArrayComparer.Instance);
                }
            }

            var commit = new VaultCommit(written.Entry, written.Writes, nodes);
            committing.GetAwaiter().GetResult();
            committing = Task.Run(() => Store(commit));
            progress?.Invoke(count);
        }

        committing.GetAwaiter().GetResult();
    }

    // The RegisterStarts of the fillers from first on: beside the caller when a second instance serves them.
    private Task<(ByteString[], List<VaultResponse>)> Begin(long first, long target)
    {
        int n = (int)Math.Min(BatchSize, target - first);
        ByteString[] users = [.. Enumerable.Range(0, n).Select(i => ByteString.CopyFromUtf8(FillerPrefix + (first + i).ToString(System.Globalization.CultureInfo.InvariantCulture)))];
        (ByteString[], List<VaultResponse>) Run() => (users, Send(_starter, [.. users.Select(Start)], out _));
        return ReferenceEquals(_starter, _enclave) ? Task.FromResult(Run()) : Task.Run(Run);
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

    // Seals the requests as a client would (one fixed ephemeral key), sends one batch, checks what it
    // wrote the way the host does, and opens the answers; commit (null when nothing was written) stores
    // it. No staging store: the batch must write nothing.
    private List<VaultResponse> Send(VaultEnclave enclave, IReadOnlyList<UserRequest> requests, out BatchResult? written)
    {
        written = null;
        long t0 = Stopwatch.GetTimestamp();
        var pending = new byte[requests.Count][];
        var batch = new Batch();
        var operations = new Operation[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            UserRequest request = requests[i];
            operations[i] = new Operation { Client = _channel.Seal(request, out pending[i]) };
        }

        long t1 = Stopwatch.GetTimestamp();
        Interlocked.Add(ref _sealTicks, t1 - t0);
        for (int i = 0; i < operations.Length; i++)
        {
            Operation operation = operations[i];
            operation.Tag = (ulong)Interlocked.Increment(ref _tag);
            if (requests[i].Request.OperationCase == VaultRequest.OperationOneofCase.RegisterFinish)
            {
                // Fillers are new users: the store holds no record for them, and the proof says so.
                operation.Witness = new RecordWitness { Proof = _tree.Prove(MerkleHashing.UserKey(operation.Client.UserId.Span)) };
            }

            batch.Operations.Add(operation);
        }

        long t2 = Stopwatch.GetTimestamp();
        Interlocked.Add(ref _witnessTicks, t2 - t1);
        EnclaveResponse response = enclave.Handle(new EnclaveRequest { Batch = batch });
        long t3 = Stopwatch.GetTimestamp();
        Interlocked.Add(ref _enclaveTicks, t3 - t2);
        BatchResult result = response.Batch ?? throw new InvalidOperationException($"the enclave refused a seeding batch: {response}");
        if (result.Entry is not null)
        {
            Apply(result);
            written = result;
        }

        var answers = new List<VaultResponse>(requests.Count);
        for (int i = 0; i < requests.Count; i++)
        {
            OperationResult one = result.Results[i];
            if (one.Tag != operations[i].Tag || one.Client?.ResultCase != ClientResponse.ResultOneofCase.SealedResponse
                || !_channel.TryOpen(pending[i], one.Client.SealedResponse.Span, out byte[] plaintext))
            {
                throw new InvalidOperationException($"seeding operation {i}: {one.Outcome} {one.Detail} {one.Client}");
            }

            answers.Add(VaultResponse.Parser.ParseFrom(plaintext));
        }

        return answers;
    }

    // The host's check (VaultPipeline): keys are SHA-256 of the user ids, and the writes lead to the
    // entry's root over the tree.
    private void Apply(BatchResult result)
    {
        foreach (RecordWrite write in result.Writes)
        {
            if (!write.Key.Span.SequenceEqual(MerkleHashing.UserKey(write.UserId.Span)) || write.Record is null)
            {
                throw new InvalidOperationException("a seeding write is not a record under its user's key");
            }

            _tree.Set(write.Key.Span, MerkleHashing.RecordValueHash(write.Record));
        }

        if (!_tree.Root.AsSpan().SequenceEqual(result.Entry.MerkleRoot.Span))
        {
            throw new InvalidOperationException("the seeder's tree diverged from the enclave's root");
        }
    }

    // One store transaction per entry, as the host commits it (and the same on the mirror).
    private void Store(VaultCommit commit)
    {
        long start = Stopwatch.GetTimestamp();
        _store.Commit(commit);
        if (_mirrorQueue is not null)
        {
            if (_mirrorFailure is not null)
            {
                throw new InvalidOperationException("the mirror store failed", _mirrorFailure);
            }

            _mirrorQueue.Add(commit);
        }

        Interlocked.Add(ref _commitTicks, Stopwatch.GetTimestamp() - start);
    }

    // Keeps only the nodes the current root reaches: the tree never overwrites a node, so every update
    // leaves its old path behind, and those old paths are most of the memory.
    private List<KeyValuePair<byte[], MerkleNode>> Compact()
    {
        var live = new InMemoryMerkleNodeStore();
        var nodes = new List<KeyValuePair<byte[], MerkleNode>>();
        var pending = new Stack<byte[]>();
        pending.Push(_tree.Root);
        while (pending.TryPop(out byte[]? hash))
        {
            if (!_nodes.TryGet(hash, out MerkleNode node))
            {
                continue; // an empty subtree
            }

            live.Put(hash, node);
            nodes.Add(new(hash, node));
            if (node is MerkleInteriorNode interior)
            {
                pending.Push(interior.Left);
                pending.Push(interior.Right);
            }
        }

        _nodes = live;
        _tree = new SparseMerkleTree(_nodes, _tree.Root);
        return nodes;
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

    /// <summary>
    /// The client side of the channel for fillers: HPKE base mode to the channel key with one ephemeral
    /// key for every request (its Diffie-Hellman computed once), and the fleet's answers opened as
    /// RFC 9458 says. The enclave opens these requests like any client's; an answer that does not open
    /// stops the seeding.
    /// </summary>
    private sealed class FillerChannel : IHpkeRecipientKey
    {
        private readonly byte[] _encapsulatedKey;
        private readonly byte[] _sharedX;

        public FillerChannel(byte[] channelPublicKey)
        {
            PublicKey = channelPublicKey;
            using ECDiffieHellman ephemeral = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
            ECParameters mine = ephemeral.ExportParameters(includePrivateParameters: false);
            _encapsulatedKey = [0x04, .. mine.Q.X!, .. mine.Q.Y!];
            using ECDiffieHellman channel = ECDiffieHellman.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = channelPublicKey[1..33], Y = channelPublicKey[33..65] },
            });
            _sharedX = ephemeral.DeriveRawSecretAgreement(channel.PublicKey);
        }

        // The recipient's view of the same key schedule: skR * pkE = skE * pkR, which is already known.
        public byte[] PublicKey { get; }

        public byte[] DiffieHellmanX(ReadOnlySpan<byte> peerPoint) => (byte[])_sharedX.Clone();

        public ClientRequest Seal(UserRequest request, out byte[] responseSecret)
        {
            using HpkeContext context = HpkeP256.SetupBaseRecipient(_encapsulatedKey, this, VaultChannel.Info(request.UserId.Span));
            byte[] sealedRequest = context.Seal(VaultChannel.AssociatedData, request.Request.ToByteArray());
            responseSecret = context.Export(VaultChannel.ResponseExportLabel, HpkeP256.KeyLength);
            return new ClientRequest { UserId = request.UserId, EncapsulatedKey = ByteString.CopyFrom(_encapsulatedKey), SealedRequest = ByteString.CopyFrom(sealedRequest) };
        }

        public bool TryOpen(byte[] responseSecret, ReadOnlySpan<byte> sealedResponse, out byte[] plaintext)
        {
            plaintext = [];
            int nonceLength = VaultChannel.ResponseNonceLength;
            if (sealedResponse.Length < VaultChannel.MinimumResponseLength)
            {
                return false;
            }

            byte[] prk = HKDF.Extract(HashAlgorithmName.SHA256, responseSecret, [.. _encapsulatedKey, .. sealedResponse[..nonceLength]]);
            byte[] key = HKDF.Expand(HashAlgorithmName.SHA256, prk, HpkeP256.KeyLength, VaultChannel.ResponseKeyLabel.ToArray());
            byte[] nonce = HKDF.Expand(HashAlgorithmName.SHA256, prk, HpkeP256.NonceLength, VaultChannel.ResponseNonceLabel.ToArray());
            ReadOnlySpan<byte> body = sealedResponse[nonceLength..];
            byte[] output = new byte[body.Length - HpkeP256.TagLength];
            using var aes = new AesGcm(key, HpkeP256.TagLength);
            try
            {
                aes.Decrypt(nonce, body[..output.Length], body[output.Length..], output, VaultChannel.AssociatedData);
            }
            catch (AuthenticationTagMismatchException)
            {
                return false;
            }

            plaintext = output;
            return true;
        }
    }
}

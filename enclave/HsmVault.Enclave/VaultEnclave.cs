using Google.Protobuf;
using HsmVault.Protocol;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave;

/// <summary>
/// The vault state machine that runs inside the HSM: one request in, one response out, no I/O.
/// Its durable state is the NVRAM content (last log index, entry MAC, Merkle root); user records
/// live sealed in the host's store and are checked against that root on every use. A batch of
/// operations is applied in order and committed with one NVRAM write before any of its answers
/// is released (group commit), so no answer ever depends on state that could be lost.
/// </summary>
public sealed class VaultEnclave
{
    private static ReadOnlySpan<byte> GenesisLabel => "HsmVault-v1 genesis"u8;

    private readonly IHsmServices _hsm;
    private readonly VaultPolicy _policy;
    private readonly VaultOperations _operations;

    // Mirror of NVRAM; null when it must be re-read (at start, or after a failed write).
    private CommittedState? _committed;

    // The last committed batch's entry and store delta, so a host that lost the response can
    // recover it (bounded: one batch).
    private BatchResult? _lastCommitted;

    public VaultEnclave(IHsmServices hsm, VaultPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(hsm);
        ArgumentNullException.ThrowIfNull(policy);
        policy.Validate();
        _hsm = hsm;
        _policy = policy;
        _operations = new VaultOperations(hsm, policy);
    }

    /// <summary>The policy this enclave enforces.</summary>
    public VaultPolicy Policy => _policy;

    /// <summary>
    /// Handles an encoded <see cref="EnclaveRequest"/> and returns an encoded <see cref="EnclaveResponse"/>.
    /// Never throws: unparsable or oversized input gets an <see cref="EnclaveError"/>.
    /// </summary>
    public byte[] Handle(ReadOnlySpan<byte> request) => EnclaveRequestBytes.Handle(request, _policy.MaxRequestBytes, Handle);

    /// <summary>Handles one request. Never throws for any request content.</summary>
    public EnclaveResponse Handle(EnclaveRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return request.KindCase switch
            {
                EnclaveRequest.KindOneofCase.Initialize => Initialize(),
                EnclaveRequest.KindOneofCase.State => ReportState(),
                EnclaveRequest.KindOneofCase.Batch => ApplyBatch(request.Batch),
                _ => Error(EnclaveErrorCode.MalformedRequest, "request.kind: none set"),
            };
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Fail closed: whatever went wrong, nothing of this request was committed or released.
            _committed = null;
            return Error(EnclaveErrorCode.EnclaveInternal, $"internal failure ({ex.GetType().Name}); nothing was committed");
        }
    }

    private EnclaveResponse Initialize()
    {
        byte[] content = _hsm.ReadNvram();
        if (content.Length == 0)
        {
            byte[] genesisMac = _hsm.Hmac(HsmHmacKey.LogMac, GenesisLabel);
            Commit(new CommittedState(0, MerkleHashing.Empty.ToArray(), genesisMac));
        }

        return ReportState();
    }

    private EnclaveResponse ReportState()
    {
        if (LoadCommitted() is not { } committed)
        {
            return NotReady();
        }

        var report = new EnclaveResponse
        {
            State = new StateReport
            {
                LogIndex = committed.LogIndex,
                MerkleRoot = ByteString.CopyFrom(committed.MerkleRoot),
                EntryMac = ByteString.CopyFrom(committed.EntryMac),
                IdentityPublicKey = ByteString.CopyFrom(_hsm.IdentityPublicKey),
                AkePublicKey = ByteString.CopyFrom(_hsm.AkePublicKey),
                ChannelPublicKey = ByteString.CopyFrom(_hsm.ChannelPublicKey),
                AttemptLimit = (uint)_policy.AttemptLimit,
            },
        };
        if (_lastCommitted?.Entry is { } last && last.Index == committed.LogIndex)
        {
            report.State.LastEntry = last;
            report.State.LastWrites.AddRange(_lastCommitted.Writes);
        }

        return report;
    }

    private EnclaveResponse ApplyBatch(Batch batch)
    {
        if (LoadCommitted() is not { } committed)
        {
            return NotReady();
        }

        if (batch.Operations.Count > _policy.MaxBatchOperations)
        {
            return Error(EnclaveErrorCode.BatchTooLarge, $"batch.operations: {batch.Operations.Count}, at most {_policy.MaxBatchOperations}");
        }

        var context = new BatchContext(committed);
        var result = new BatchResult();
        foreach (Operation operation in batch.Operations)
        {
            result.Results.Add(_operations.Apply(context, operation));
        }

        if (context.Updates.Count > 0)
        {
            var entry = new LogEntry
            {
                Index = context.Version,
                PreviousMac = ByteString.CopyFrom(committed.EntryMac),
                MerkleRoot = ByteString.CopyFrom(context.Tree.Root),
            };
            entry.Updates.AddRange(context.Updates);
            entry.Mac = ByteString.CopyFrom(_hsm.Hmac(HsmHmacKey.LogMac, LogEntryCodec.MacInput(entry)));

            // The one NVRAM write of the batch; only after it succeeds may any answer leave.
            Commit(new CommittedState(entry.Index, entry.MerkleRoot.ToByteArray(), entry.Mac.ToByteArray()));
            result.Entry = entry;
            result.Writes.AddRange(context.Writes);
            _lastCommitted = new BatchResult { Entry = entry.Clone() };
            _lastCommitted.Writes.AddRange(context.Writes.Select(w => w.Clone()));
        }

        return new EnclaveResponse { Batch = result };
    }

    private void Commit(CommittedState next)
    {
        _committed = null;
        _hsm.WriteNvram(next.Encode());
        _committed = next;
    }

    private CommittedState? LoadCommitted()
    {
        if (_committed is null)
        {
            byte[] content = _hsm.ReadNvram();
            _committed = content.Length == 0 ? null : CommittedState.TryDecode(content);
        }

        return _committed;
    }

    private EnclaveResponse NotReady() =>
        _hsm.ReadNvram().Length == 0
            ? Error(EnclaveErrorCode.NotInitialized, "NVRAM is empty: send InitializeRequest first")
            : Error(EnclaveErrorCode.NvramCorrupt, "NVRAM does not hold a state this enclave wrote; refusing service");

    private static EnclaveResponse Error(EnclaveErrorCode code, string message) =>
        new() { Error = new EnclaveError { Code = code, Message = message } };
}

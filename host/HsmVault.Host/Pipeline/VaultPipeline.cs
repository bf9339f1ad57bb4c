using System.Diagnostics;
using Google.Protobuf;
using HsmVault.Host.Bridge;
using HsmVault.Host.Configuration;
using HsmVault.Host.Store;
using HsmVault.Host.Telemetry;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace HsmVault.Host.Pipeline;

/// <summary>
/// Turns client requests into enclave batches (group commit). Requests that arrive while a batch
/// is with the HSM wait and go together in the next one, at most one per user. Each operation
/// carries the user's witness (sealed record and Merkle proof) built from the store; what the
/// enclave returns is checked against the store's tree and committed durably before any
/// response of the batch is released. One loop owns the store and the bridge, so batches are
/// strictly sequential; the same loop probes the HSM and the store while idle (so health follows a
/// dead HSM without racing a batch on the bridge) and retries an unreachable HSM with capped
/// exponential backoff.
/// </summary>
public sealed partial class VaultPipeline : IClientRequestHandler, IVaultService, IHostedService, IDisposable
{
    // Room for the EnclaveRequest/Batch wrappers and per-operation field headers.
    private const int FrameOverheadBytes = 64;

    private readonly IVaultStore _store;
    private readonly IHsmBridge _bridge;
    private readonly HsmOptions _hsm;
    private readonly ClientListenerOptions _limits;
    private readonly HostMetrics _metrics;
    private readonly ILogger<VaultPipeline> _logger;
    private readonly HealthOptions _health;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline<bool> _reconnect;
    private readonly CancellationTokenSource _stopping = new();
    private readonly RequestAdmission _admission;
    private readonly CancellationTokenSource _abort = new();
    private List<PendingOperation> _carry = [];
    private int _batchLimit;
    private ulong _nextTag;
    private byte[] _entryMac = [];
    private Task? _loop;
    private volatile ServiceStatus _status = ServiceStatus.Starting;
    private volatile string _statusDetail = "checking the enclave state";
    private volatile bool _enclaveReachable;
    private string? _lastCheckFailure;
    private long _lastContact;
    private int _disposed;

    /// <summary>
    /// <paramref name="health"/> sets the idle probe's interval and timeout (defaults when null);
    /// <paramref name="time"/> drives the probe timer and the reconnect backoff (the system clock when null).
    /// </summary>
    public VaultPipeline(
        IVaultStore store,
        IHsmBridge bridge,
        HsmOptions hsm,
        ClientListenerOptions limits,
        HostMetrics metrics,
        ILogger<VaultPipeline> logger,
        HealthOptions? health = null,
        TimeProvider? time = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _bridge = bridge ?? throw new ArgumentNullException(nameof(bridge));
        _hsm = hsm ?? throw new ArgumentNullException(nameof(hsm));
        _limits = limits ?? throw new ArgumentNullException(nameof(limits));
        _admission = new RequestAdmission(limits.MaxInFlightRequests);
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _health = health ?? new HealthOptions();
        _time = time ?? TimeProvider.System;
        _batchLimit = hsm.MaxBatchOperations;
        _reconnect = BuildReconnectPipeline(hsm, _time);
        _lastContact = _time.GetTimestamp();
        _metrics.ObserveRecords(() => _store.State.RecordCount);
        _metrics.ObserveVault(() => unchecked((long)_store.State.LogIndex), () => _status == ServiceStatus.Serving, () => _enclaveReachable);
    }

    /// <summary>Whether requests are being served, and if not why.</summary>
    public ServiceStatus Status => _status;

    /// <summary>A sentence on the current status, for the health endpoint and logs; while serving it names the store's current log index.</summary>
    public string StatusDetail => _status == ServiceStatus.Serving ? $"serving at log index {_store.State.LogIndex}" : _statusDetail;

    /// <summary>True once the pipeline loop has ended (after shutdown, or after an unexpected error).</summary>
    public bool LoopStopped => _loop is { IsCompleted: true };

    /// <summary>Whether the last exchange with the HSM succeeded.</summary>
    public bool EnclaveReachable => _enclaveReachable;

    /// <summary>The store's committed state.</summary>
    public VaultStoreState StoreState => _store.State;

    /// <summary>Requests admitted and not yet answered.</summary>
    public int InFlight => _admission.InFlight;

    /// <summary>
    /// Answers <paramref name="request"/>: an enclave response, or a typed Error when the host
    /// refuses it (BAD_REQUEST, TOO_LARGE, BUSY, UNAVAILABLE) or the vault fails (INTERNAL).
    /// Never throws for a bad request. Once admitted, a request is not cancelled: the enclave
    /// may already have counted it.
    /// </summary>
    public async Task<ClientResponse> SubmitAsync(ClientRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        long started = Stopwatch.GetTimestamp();
        _metrics.RequestReceived();
        ClientResponse response = await AnswerAsync(request).ConfigureAwait(false);
        _metrics.ResponseSent(response, Stopwatch.GetElapsedTime(started));
        return response;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => RunAsync(_abort.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops taking requests, answers those already admitted, then stops.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _admission.Close();
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is null)
        {
            return;
        }

        try
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            LogDrainCut();
            await _abort.CancelAsync().ConfigureAwait(false);
            await _loop.ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        // The container disposes this once as the pipeline and once as a hosted service.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Disposed without a stop (another service failed to start): end the loop rather than leave it retrying.
        _abort.Cancel();
        _stopping.Cancel();
        if (_loop is null || _loop.IsCompleted)
        {
            _abort.Dispose();
            _stopping.Dispose();
        }
    }

    private async Task<ClientResponse> AnswerAsync(ClientRequest request)
    {
        (ByteString? userId, ClientResponse? invalid) = ClientRequestCheck.UserIdOf(request, _limits.MaxUserIdBytes);
        if (invalid is not null)
        {
            return invalid;
        }

        if (_status != ServiceStatus.Serving)
        {
            return ClientErrors.Create(request.RequestId, ErrorCode.Unavailable, "the vault is not serving now; retry later");
        }

        return await _admission.SubmitAsync(request, userId!).ConfigureAwait(false);
    }

    private async Task RunAsync(CancellationToken abort)
    {
        try
        {
            while (!abort.IsCancellationRequested)
            {
                if (_status is ServiceStatus.Starting or ServiceStatus.Unavailable)
                {
                    if (!await ReconnectAsync(abort).ConfigureAwait(false))
                    {
                        break;
                    }

                    continue;
                }

                if (_carry.Count == 0)
                {
                    Wake wake = await WaitForWorkAsync(abort).ConfigureAwait(false);
                    if (wake == Wake.Closed)
                    {
                        break;
                    }

                    if (wake == Wake.ProbeDue)
                    {
                        await ProbeAsync(abort).ConfigureAwait(false);
                        continue;
                    }
                }

                if (_status == ServiceStatus.Refused)
                {
                    FailWaiting(ErrorCode.Unavailable, "the vault refuses service: its store does not match the HSM");
                    continue;
                }

                if (_hsm.BatchWindow > TimeSpan.Zero)
                {
                    await Task.Delay(_hsm.BatchWindow, abort).ConfigureAwait(false);
                }

                await ExecuteAsync(CollectBatch(), abort).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            // Hard stop after the drain timeout.
        }
        catch (Exception ex)
        {
            LogLoopFailed(ex);
            SetStatus(ServiceStatus.Refused, $"the pipeline stopped after an unexpected error: {ex.GetType().Name}");
        }
        finally
        {
            _admission.Close();
            FailWaiting(ErrorCode.Unavailable, "the vault is shutting down; retry later");
        }
    }

    private List<PendingOperation> CollectBatch()
    {
        (List<PendingOperation> batch, _carry) = BatchCollector.Collect(_carry, _admission.Reader, _batchLimit);
        return batch;
    }

    private async Task ExecuteAsync(List<PendingOperation> batch, CancellationToken abort)
    {
        if (batch.Count == 0)
        {
            return;
        }

        VaultStoreState state = _store.State;
        var staged = new StagedMerkleNodeStore(_store.Nodes);
        var tree = new SparseMerkleTree(staged, state.MerkleRoot);
        var request = new Batch();
        var sent = new List<PendingOperation>();
        int bytes = FrameOverheadBytes;
        for (int i = 0; i < batch.Count; i++)
        {
            PendingOperation pending = batch[i];
            Operation operation;
            try
            {
                operation = BuildOperation(pending, tree);
            }
            catch (Exception ex) when (ex is MerkleProofException or InvalidDataException or ArgumentException)
            {
                LogWitnessFailed(ex.Message);
                pending.Fail(ErrorCode.Internal, "the vault store is damaged; the operator has been alerted");
                continue;
            }
            catch (StoreUnavailableException ex)
            {
                // A database store can drop out between batches: nothing was sent, so retry after the re-check.
                LogStoreUnhealthy(ex.Message);
                SetStatus(ServiceStatus.Unavailable, ex.Message + "; retrying");
                FailAll([.. sent, .. batch.Skip(i)], ErrorCode.Unavailable, "the vault store is unavailable; retry later");
                return;
            }

            int size = operation.CalculateSize() + 8;
            if (bytes + size > _hsm.MaxFrameBytes)
            {
                if (sent.Count == 0)
                {
                    pending.Fail(ErrorCode.TooLarge, $"the request is too large for one HSM batch ({size} bytes)");
                    continue;
                }

                // The batch is full by size: the rest go first in the next one.
                _carry = [.. batch.Skip(i), .. _carry];
                break;
            }

            bytes += size;
            request.Operations.Add(operation);
            sent.Add(pending);
        }

        if (sent.Count == 0)
        {
            return;
        }

        _metrics.BatchSent(sent.Count);
        EnclaveResponse response;
        try
        {
            response = await _bridge.SendAsync(new EnclaveRequest { Batch = request }, abort).ConfigureAwait(false);
        }
        catch (HsmUnavailableException ex)
        {
            LogBridgeFailed(ex.Message);
            _enclaveReachable = false;
            SetStatus(ServiceStatus.Unavailable, "the HSM did not answer a batch; re-checking its state");
            FailAll(sent, ErrorCode.Unavailable, "the HSM is unavailable; retry later");
            return;
        }

        MarkReachable();
        switch (response.KindCase)
        {
            case EnclaveResponse.KindOneofCase.Batch:
                Apply(sent, request, response.Batch, tree, staged, state.MerkleRoot);
                break;
            case EnclaveResponse.KindOneofCase.Error:
                HandleEnclaveError(sent, response.Error);
                break;
            default:
                LogProtocolViolation($"a batch was answered with {response.KindCase}");
                SetStatus(ServiceStatus.Unavailable, "the HSM answered a batch with something else; re-checking its state");
                FailAll(sent, ErrorCode.Unavailable, "the HSM is unavailable; retry later");
                break;
        }
    }

    private Operation BuildOperation(PendingOperation pending, SparseMerkleTree tree)
    {
        // The operation is sealed, so the host cannot tell which ones need the record: every
        // request carries the witness of the user it names.
        return new Operation
        {
            Tag = ++_nextTag,
            Client = pending.Request,
            Witness = new RecordWitness { Record = _store.FindRecord(pending.Key), Proof = tree.Prove(pending.Key) },
        };
    }

    private void Apply(List<PendingOperation> sent, Batch request, BatchResult result, SparseMerkleTree tree, StagedMerkleNodeStore staged, byte[] oldRoot)
    {
        string? violation = Validate(request, result, tree);
        if (violation is not null)
        {
            // The enclave may have committed something the host cannot follow: stop and re-check.
            LogProtocolViolation(violation);
            SetStatus(ServiceStatus.Unavailable, "the HSM's batch result did not match the store; re-checking its state");
            FailAll(sent, ErrorCode.Unavailable, "the vault could not complete the request; retry later");
            return;
        }

        if (result.Entry is not null)
        {
            try
            {
                _store.Commit(VaultCommit.Pruning(result.Entry, result.Writes, staged, oldRoot));
            }
            catch (Exception ex) when (ex is StoreConflictException or IOException or StoreUnavailableException)
            {
                // Nothing may leave the host before it is durable; the enclave is now ahead of the store.
                LogStoreFailed(ex);
                SetStatus(ServiceStatus.Unavailable, "the store could not persist a committed batch; re-checking");
                FailAll(sent, ErrorCode.Unavailable, "the vault could not persist the request; retry later");
                return;
            }

            _entryMac = result.Entry.Mac.ToByteArray();
        }

        for (int i = 0; i < sent.Count; i++)
        {
            Relay(sent[i], result.Results[i]);
        }
    }

    private string? Validate(Batch request, BatchResult result, SparseMerkleTree tree)
    {
        if (result.Results.Count != request.Operations.Count)
        {
            return $"batch_result.results: {result.Results.Count} results for {request.Operations.Count} operations";
        }

        for (int i = 0; i < result.Results.Count; i++)
        {
            if (result.Results[i].Tag != request.Operations[i].Tag)
            {
                return $"batch_result.results[{i}].tag: {result.Results[i].Tag}, expected {request.Operations[i].Tag}";
            }
        }

        if (result.Entry is null)
        {
            return result.Writes.Count == 0 ? null : $"batch_result.writes: {result.Writes.Count} writes without a log entry";
        }

        VaultStoreState state = _store.State;
        LogEntry entry = result.Entry;
        if (entry.Index != state.LogIndex + 1)
        {
            return $"batch_result.entry.index: {entry.Index}, the store is at {state.LogIndex}";
        }

        if (_entryMac.Length > 0 && !entry.PreviousMac.Span.SequenceEqual(_entryMac))
        {
            return "batch_result.entry.previous_mac: does not chain to the store's last entry";
        }

        return EnclaveWrites.Apply(tree, result.Writes, entry.MerkleRoot.Span, "batch_result");
    }

    /// <summary>
    /// The enclave is one entry ahead and still holds that entry and its writes (the response to the
    /// last batch was lost after the enclave committed it): replay them into the store. True when done;
    /// <paramref name="storeFailed"/> is set when the replay was valid but the store could not write it.
    /// </summary>
    private bool TryCatchUp(StateReport report, VaultStoreState store, out bool storeFailed)
    {
        storeFailed = false;
        if (report.LogIndex != store.LogIndex + 1 || report.LastEntry is not { } entry || entry.Index != report.LogIndex
            || !entry.MerkleRoot.Span.SequenceEqual(report.MerkleRoot.Span) || !entry.Mac.Span.SequenceEqual(report.EntryMac.Span))
        {
            return false;
        }

        byte[] previousMac = store.EntryMac.Length > 0 ? store.EntryMac : _entryMac;
        if (previousMac.Length > 0 && !entry.PreviousMac.Span.SequenceEqual(previousMac))
        {
            LogProtocolViolation("state_report.last_entry.previous_mac: does not chain to the store's last entry");
            return false;
        }

        var staged = new StagedMerkleNodeStore(_store.Nodes);
        var tree = new SparseMerkleTree(staged, store.MerkleRoot);
        if (EnclaveWrites.Apply(tree, report.LastWrites, entry.MerkleRoot.Span, "state_report") is { } violation)
        {
            LogProtocolViolation(violation);
            return false;
        }

        try
        {
            _store.Commit(VaultCommit.Pruning(entry, report.LastWrites, staged, store.MerkleRoot));
        }
        catch (Exception ex) when (ex is StoreConflictException or IOException or StoreUnavailableException)
        {
            LogStoreFailed(ex);
            storeFailed = true;
            return false;
        }

        LogCaughtUp(entry.Index, report.LastWrites.Count);
        return true;
    }

    private void Relay(PendingOperation pending, OperationResult result)
    {
        switch (result.Outcome)
        {
            case OperationOutcome.OutcomeOk or OperationOutcome.OutcomeClientError when result.Client is not null:
                pending.Complete(result.Client);
                break;
            case OperationOutcome.OutcomeStaleWitness when !pending.Retried:
                // The store moved (or the user was already written) since the witness was built: rebuild once.
                pending.Retried = true;
                _carry.Insert(0, pending);
                break;
            case OperationOutcome.OutcomeStaleWitness:
                LogStaleTwice(result.Detail);
                pending.Fail(ErrorCode.Unavailable, "the vault store is out of step with the HSM; retry later");
                break;
            case OperationOutcome.OutcomeIntegrityFailure:
                LogIntegrityAlert(result.Detail);
                pending.Fail(ErrorCode.Internal, "the vault store failed an integrity check; the operator has been alerted");
                break;
            default:
                LogUnexpectedOutcome(result.Outcome, result.Detail);
                pending.Fail(ErrorCode.Internal, "the vault failed to process the request");
                break;
        }
    }

    private void HandleEnclaveError(List<PendingOperation> sent, EnclaveError error)
    {
        LogEnclaveError(error.Code, error.Message);
        switch (error.Code)
        {
            case EnclaveErrorCode.BatchTooLarge or EnclaveErrorCode.RequestTooLarge when sent.Count > 1:
                // Nothing was applied: shrink the batch limit and send the same requests again.
                _batchLimit = Math.Max(1, sent.Count / 2);
                _carry = [.. sent, .. _carry];
                break;
            case EnclaveErrorCode.BatchTooLarge or EnclaveErrorCode.RequestTooLarge:
                FailAll(sent, ErrorCode.TooLarge, "the request is larger than the HSM accepts");
                break;
            case EnclaveErrorCode.MalformedRequest:
                FailAll(sent, ErrorCode.Internal, "the vault failed to process the request");
                break;
            default:
                SetStatus(ServiceStatus.Unavailable, $"the HSM refused a batch ({error.Code}); re-checking its state");
                FailAll(sent, ErrorCode.Unavailable, "the HSM is unavailable; retry later");
                break;
        }
    }

    /// <summary>Queries the enclave and compares its committed state with the store's. True when serving.</summary>
    private async Task<bool> CheckEnclaveAsync(CancellationToken abort)
    {
        if (_store.CheckHealth() is { } storeProblem)
        {
            // Serving needs a usable store as much as an HSM; the next attempt reads it again.
            SetStatus(ServiceStatus.Unavailable, storeProblem + "; retrying");
            if (storeProblem != _lastCheckFailure)
            {
                _lastCheckFailure = storeProblem;
                LogStoreUnhealthy(storeProblem);
            }

            return false;
        }

        EnclaveResponse response;
        try
        {
            response = await _bridge.SendAsync(new EnclaveRequest { State = new StateQuery() }, abort).ConfigureAwait(false);
            VaultStoreState fresh = _store.State;
            if (response.KindCase == EnclaveResponse.KindOneofCase.Error
                && response.Error.Code == EnclaveErrorCode.NotInitialized
                && fresh.LogIndex == 0 && fresh.RecordCount == 0)
            {
                LogInitializing();
                response = await _bridge.SendAsync(new EnclaveRequest { Initialize = new InitializeRequest() }, abort).ConfigureAwait(false);
            }
        }
        catch (HsmUnavailableException ex)
        {
            _enclaveReachable = false;
            SetStatus(ServiceStatus.Unavailable, "the HSM cannot be reached; retrying");
            if (ex.Message != _lastCheckFailure)
            {
                // Retries run every few seconds: log each distinct failure once, not at every attempt.
                _lastCheckFailure = ex.Message;
                LogBridgeFailed(ex.Message);
            }

            return false;
        }

        MarkReachable();
        _lastCheckFailure = null;
        if (response.KindCase != EnclaveResponse.KindOneofCase.State)
        {
            string what = response.KindCase == EnclaveResponse.KindOneofCase.Error
                ? $"{response.Error.Code}: {response.Error.Message}"
                : response.KindCase.ToString();
            SetStatus(ServiceStatus.Unavailable, $"the HSM did not report its state ({what}); retrying");
            return false;
        }

        StateReport report = response.State;
        if (TryCatchUp(report, _store.State, out bool storeFailed))
        {
            _entryMac = report.EntryMac.ToByteArray();
        }
        else if (storeFailed)
        {
            // The entry is still recoverable from the enclave: keep retrying rather than refusing.
            SetStatus(ServiceStatus.Unavailable, "the store cannot persist the enclave's last entry; retrying");
            return false;
        }

        VaultStoreState store = _store.State;
        bool storeFresh = store.LogIndex == 0 && store.RecordCount == 0 && MerkleHashing.IsEmpty(store.MerkleRoot);
        if (report.LogIndex == store.LogIndex && report.MerkleRoot.Span.SequenceEqual(store.MerkleRoot)
            && (store.EntryMac.Length == 0 || report.EntryMac.Span.SequenceEqual(store.EntryMac)))
        {
            _entryMac = report.EntryMac.ToByteArray();
        }
        else if (storeFresh && MerkleHashing.IsEmpty(report.MerkleRoot.Span) && report.LogIndex <= 1)
        {
            // A new store beside a new enclave: nothing to lose. Chain on from the enclave's genesis MAC.
            _entryMac = report.EntryMac.ToByteArray();
            if (report.LogIndex != 0)
            {
                SetStatus(ServiceStatus.Refused, $"the enclave's genesis is at log index {report.LogIndex}; this host expects 0");
                LogRefused(StatusDetail);
                return false;
            }
        }
        else
        {
            string why = report.LogIndex > store.LogIndex
                ? $"the store is BEHIND the enclave (store log index {store.LogIndex}, enclave {report.LogIndex}): records committed by the HSM are missing from the store; restore the store or rebuild it from a replica"
                : report.LogIndex < store.LogIndex
                    ? $"the store is AHEAD of the enclave (store log index {store.LogIndex}, enclave {report.LogIndex}): wrong HSM, or the HSM was reset or rolled back"
                    : $"the store and the enclave disagree at log index {store.LogIndex} (different Merkle root or entry MAC): wrong store or wrong HSM";
            SetStatus(ServiceStatus.Refused, why);
            LogRefused(why);
            return false;
        }

        SetStatus(ServiceStatus.Serving, $"serving at log index {store.LogIndex}");
        LogServing(store.LogIndex, store.RecordCount, report.AttemptLimit);
        return true;
    }

    // Retries the state check until the enclave answers it (serving or refused), pausing with capped,
    // jittered exponential backoff in between: a restarted HSM is found quickly, a long outage costs little.
    private static ResiliencePipeline<bool> BuildReconnectPipeline(HsmOptions hsm, TimeProvider time) =>
        new ResiliencePipelineBuilder<bool> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<bool>
            {
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is null && !args.Outcome.Result),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = hsm.ReconnectDelay,
                MaxDelay = hsm.MaxReconnectDelay,
            })
            .Build();

    /// <summary>
    /// Re-checks the enclave until it answers or the host stops. False when the loop should end:
    /// shutdown began while the HSM was still unreachable.
    /// </summary>
    private async Task<bool> ReconnectAsync(CancellationToken abort)
    {
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(abort, _stopping.Token);
        try
        {
            await _reconnect.ExecuteAsync(
                async (pipeline, _) =>
                {
                    pipeline.FailWaiting(ErrorCode.Unavailable, "the HSM is unavailable; retry later");

                    // The check itself runs to its end even when shutdown starts: an initialization may be on its way.
                    bool answered = await pipeline.CheckEnclaveAsync(abort).ConfigureAwait(false) || pipeline._status == ServiceStatus.Refused;
                    return answered || pipeline._admission.Reader.Completion.IsCompleted;
                },
                this,
                stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!abort.IsCancellationRequested)
        {
            // Shutdown during a pause: nothing is served while the HSM is down, so stop now.
        }

        return _status is not (ServiceStatus.Starting or ServiceStatus.Unavailable)
            || !(_stopping.IsCancellationRequested || _admission.Reader.Completion.IsCompleted);
    }

    /// <summary>Waits for queued work; while serving, only until the next health probe is due.</summary>
    private async Task<Wake> WaitForWorkAsync(CancellationToken abort)
    {
        if (_admission.Reader.TryPeek(out _))
        {
            return Wake.Work;
        }

        if (_status != ServiceStatus.Serving)
        {
            return await _admission.Reader.WaitToReadAsync(abort).ConfigureAwait(false) ? Wake.Work : Wake.Closed;
        }

        TimeSpan due = _health.ProbeInterval - _time.GetElapsedTime(Volatile.Read(ref _lastContact));
        if (due <= TimeSpan.Zero)
        {
            return Wake.ProbeDue;
        }

        using var timer = new CancellationTokenSource(due, _time);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(abort, timer.Token);
        try
        {
            return await _admission.Reader.WaitToReadAsync(wait.Token).ConfigureAwait(false) ? Wake.Work : Wake.Closed;
        }
        catch (OperationCanceledException) when (!abort.IsCancellationRequested)
        {
            return Wake.ProbeDue;
        }
    }

    /// <summary>
    /// The idle health probe: reads the store back and asks the enclave for its state. A failure, or
    /// an enclave whose state no longer matches the store, ends serving until the full state check
    /// (with its catch-up and refusal rules) succeeds again.
    /// </summary>
    private async Task ProbeAsync(CancellationToken abort)
    {
        if (_store.CheckHealth() is { } storeProblem)
        {
            LogStoreUnhealthy(storeProblem);
            _lastCheckFailure = storeProblem;
            SetStatus(ServiceStatus.Unavailable, storeProblem + "; retrying");
            return;
        }

        EnclaveResponse response;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(abort);
        timeout.CancelAfter(_health.ProbeTimeout);
        try
        {
            response = await _bridge.SendAsync(new EnclaveRequest { State = new StateQuery() }, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HsmUnavailableException || (ex is OperationCanceledException && !abort.IsCancellationRequested))
        {
            string reason = ex is HsmUnavailableException ? ex.Message : $"no answer to a state probe within {_health.ProbeTimeout}";
            LogBridgeFailed(reason);
            _lastCheckFailure = reason;
            _enclaveReachable = false;
            SetStatus(ServiceStatus.Unavailable, "the HSM stopped answering; reconnecting");
            return;
        }

        MarkReachable();
        VaultStoreState store = _store.State;
        if (response.KindCase != EnclaveResponse.KindOneofCase.State
            || response.State.LogIndex != store.LogIndex
            || !response.State.MerkleRoot.Span.SequenceEqual(store.MerkleRoot))
        {
            SetStatus(ServiceStatus.Unavailable, "the HSM's state no longer matches the store; re-checking it");
        }
    }

    private void MarkReachable()
    {
        _enclaveReachable = true;
        Volatile.Write(ref _lastContact, _time.GetTimestamp());
    }

    private void FailWaiting(ErrorCode code, string message)
    {
        foreach (PendingOperation pending in _carry)
        {
            pending.Fail(code, message);
        }

        _carry = [];
        _admission.FailQueued(code, message);
    }

    private static void FailAll(List<PendingOperation> operations, ErrorCode code, string message)
    {
        foreach (PendingOperation pending in operations)
        {
            pending.Fail(code, message);
        }
    }

    private void SetStatus(ServiceStatus status, string detail)
    {
        if (_status != status)
        {
            LogStatusChanged(_status, status, detail);
        }

        _statusDetail = detail;
        _status = status;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Store check failed: {Problem}")]
    private partial void LogStoreUnhealthy(string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Vault status {From} -> {To}: {Detail}")]
    private partial void LogStatusChanged(ServiceStatus from, ServiceStatus to, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "Serving: store and enclave agree at log index {LogIndex}; {Records} records; attempt limit {AttemptLimit}")]
    private partial void LogServing(ulong logIndex, long records, uint attemptLimit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recovered a lost batch response: replayed log entry {LogIndex} ({Writes} record writes) from the enclave's state report")]
    private partial void LogCaughtUp(ulong logIndex, int writes);

    [LoggerMessage(Level = LogLevel.Information, Message = "The enclave has no state and the store is empty: initializing the enclave")]
    private partial void LogInitializing();

    [LoggerMessage(Level = LogLevel.Critical, Message = "REFUSING SERVICE: {Reason}")]
    private partial void LogRefused(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "HSM bridge failure: {Reason}")]
    private partial void LogBridgeFailed(string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The enclave answered a batch with {Code}: {Detail}")]
    private partial void LogEnclaveError(EnclaveErrorCode code, string detail);

    [LoggerMessage(Level = LogLevel.Critical, Message = "HSM protocol violation: {Violation}")]
    private partial void LogProtocolViolation(string violation);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Store commit failed after the enclave committed; the store is now behind the HSM")]
    private partial void LogStoreFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Critical, Message = "INTEGRITY ALERT: the enclave rejected a witness from the store as corrupt or forged: {Detail}")]
    private partial void LogIntegrityAlert(string detail);

    [LoggerMessage(Level = LogLevel.Critical, Message = "INTEGRITY ALERT: cannot build a witness from the store: {Detail}")]
    private partial void LogWitnessFailed(string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A witness was stale twice in a row: {Detail}")]
    private partial void LogStaleTwice(string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unexpected operation outcome {Outcome}: {Detail}")]
    private partial void LogUnexpectedOutcome(OperationOutcome outcome, string detail);

    [LoggerMessage(Level = LogLevel.Critical, Message = "The pipeline loop failed")]
    private partial void LogLoopFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutdown drain timed out; unanswered requests get UNAVAILABLE")]
    private partial void LogDrainCut();
}

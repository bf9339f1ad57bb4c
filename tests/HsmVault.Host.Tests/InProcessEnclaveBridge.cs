using HsmVault.Enclave;
using HsmVault.Host.Bridge;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>
/// Test-only bridge to a real <see cref="VaultEnclave"/> in this process. Requests go through the
/// enclave's byte entry point, as they would over the simulator's socket.
/// </summary>
internal sealed class InProcessEnclaveBridge : IHsmBridge
{
    private readonly VaultEnclave _enclave;
    private readonly Lock _gate = new();
    private int _batchesEntered;

    public InProcessEnclaveBridge(VaultEnclave enclave)
    {
        _enclave = enclave;
    }

    public List<int> BatchSizes { get; } = [];

    /// <summary>Completes when set; each batch waits for it first (lets tests queue requests behind a batch).</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Batches that reached the bridge (including ones still waiting at the gate).</summary>
    public int BatchesEntered => Volatile.Read(ref _batchesEntered);

    public async Task<EnclaveResponse> SendAsync(EnclaveRequest request, CancellationToken cancellationToken)
    {
        byte[] bytes = Google.Protobuf.MessageExtensions.ToByteArray(request);
        if (request.KindCase == EnclaveRequest.KindOneofCase.Batch)
        {
            Interlocked.Increment(ref _batchesEntered);
            if (Gate is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }
        }

        lock (_gate)
        {
            if (request.KindCase == EnclaveRequest.KindOneofCase.Batch)
            {
                BatchSizes.Add(request.Batch.Operations.Count);
            }

            return EnclaveResponse.Parser.ParseFrom(_enclave.Handle(bytes));
        }
    }
}

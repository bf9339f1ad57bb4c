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

    public InProcessEnclaveBridge(VaultEnclave enclave)
    {
        _enclave = enclave;
    }

    public List<int> BatchSizes { get; } = [];

    public Task<EnclaveResponse> SendAsync(EnclaveRequest request, CancellationToken cancellationToken)
    {
        byte[] bytes = Google.Protobuf.MessageExtensions.ToByteArray(request);
        lock (_gate)
        {
            if (request.KindCase == EnclaveRequest.KindOneofCase.Batch)
            {
                BatchSizes.Add(request.Batch.Operations.Count);
            }

            return Task.FromResult(EnclaveResponse.Parser.ParseFrom(_enclave.Handle(bytes)));
        }
    }
}

using HsmVault.Protocol.V1;

namespace HsmVault.Host.Bridge;

/// <summary>
/// The host's only way to the enclave: one <see cref="EnclaveRequest"/> in, one
/// <see cref="EnclaveResponse"/> out. The simulator's socket bridge and a vendor HSM bridge both
/// sit behind it. Implementations throw <see cref="HsmUnavailableException"/> when the HSM cannot
/// be reached or its answer cannot be read; the outcome of that request is then unknown.
/// </summary>
public interface IHsmBridge
{
    /// <summary>Sends <paramref name="request"/> and returns the enclave's response.</summary>
    Task<EnclaveResponse> SendAsync(EnclaveRequest request, CancellationToken cancellationToken);
}

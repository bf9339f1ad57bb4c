using HsmVault.Protocol.V1;

namespace HsmVault.Testing;

/// <summary>The enclave answered a whole batch with a request-level error instead of results.</summary>
public sealed class EnclaveRefusedException(EnclaveError error)
    : InvalidOperationException($"the enclave refused the batch: {error?.Code}: {error?.Message}")
{
    public EnclaveError Error { get; } = error ?? throw new ArgumentNullException(nameof(error));
}

using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>The enclave answered a batch with a request-level error.</summary>
internal sealed class EnclaveRefusedException(EnclaveError error) : Exception($"{error.Code}: {error.Message}")
{
    public EnclaveError Error { get; } = error;
}

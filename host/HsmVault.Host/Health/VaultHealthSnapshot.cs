namespace HsmVault.Host.Health;

/// <summary>
/// The vault's state at one moment, as <c>/health</c> and <c>/health/ready</c> show it (JSON,
/// camelCase). Built from state the pipeline's probe keeps current; reading it never touches the
/// HSM or the store.
/// </summary>
public sealed record VaultHealthSnapshot(
    string Status,
    string Detail,
    bool EnclaveReachable,
    ulong LogIndex,
    long Records,
    int InFlight);

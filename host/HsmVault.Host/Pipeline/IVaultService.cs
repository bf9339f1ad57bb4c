using HsmVault.Host.Store;

namespace HsmVault.Host.Pipeline;

/// <summary>
/// What health and metrics read from the part that answers clients: the single-HSM
/// <see cref="VaultPipeline"/>, or a fleet member's <see cref="Fleet.FleetPipeline"/>.
/// </summary>
public interface IVaultService
{
    /// <summary>Whether requests are served now.</summary>
    ServiceStatus Status { get; }

    /// <summary>One sentence on the current status, for health output and logs.</summary>
    string StatusDetail { get; }

    /// <summary>True once the request loop has ended (a stop, or a failure it could not survive).</summary>
    bool LoopStopped { get; }

    /// <summary>Whether the last exchange with the HSM got an answer.</summary>
    bool EnclaveReachable { get; }

    /// <summary>The store's committed state as this host last read it.</summary>
    VaultStoreState StoreState { get; }

    /// <summary>Requests admitted and not yet answered.</summary>
    int InFlight { get; }
}

using HsmVault.Host.Pipeline;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HsmVault.Host.Health;

/// <summary>
/// Readiness: healthy only while the vault serves (store and HSM agree and the last probe got
/// through). It reads the pipeline's state; the pipeline's own idle probe keeps that state within
/// a probe interval of the truth, so scraping health never races a batch on the HSM bridge.
/// </summary>
public sealed class VaultReadinessCheck : IHealthCheck
{
    /// <summary>The key of the <see cref="VaultHealthSnapshot"/> in the check's data.</summary>
    public const string SnapshotKey = "vault";

    private readonly IVaultService _pipeline;

    public VaultReadinessCheck(IVaultService pipeline)
    {
        _pipeline = pipeline ?? throw new ArgumentNullException(nameof(pipeline));
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ServiceStatus status = _pipeline.Status;
        var snapshot = new VaultHealthSnapshot(
            status.ToString().ToLowerInvariant(),
            _pipeline.StatusDetail,
            _pipeline.EnclaveReachable,
            _pipeline.StoreState.LogIndex,
            _pipeline.StoreState.RecordCount,
            _pipeline.InFlight);
        var data = new Dictionary<string, object> { [SnapshotKey] = snapshot };
        return Task.FromResult(status == ServiceStatus.Serving
            ? HealthCheckResult.Healthy(snapshot.Detail, data)
            : HealthCheckResult.Unhealthy(snapshot.Detail, data: data));
    }
}

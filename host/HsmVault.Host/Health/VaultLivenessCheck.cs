using HsmVault.Host.Pipeline;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HsmVault.Host.Health;

/// <summary>
/// Liveness: the process answers and its pipeline loop is still running. An unreachable HSM or a
/// refused pairing is not a liveness failure (restarting the host would not fix either); a dead
/// loop is.
/// </summary>
public sealed class VaultLivenessCheck : IHealthCheck
{
    private readonly IVaultService _pipeline;

    public VaultLivenessCheck(IVaultService pipeline)
    {
        _pipeline = pipeline ?? throw new ArgumentNullException(nameof(pipeline));
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_pipeline.LoopStopped
            ? HealthCheckResult.Unhealthy("the request pipeline has stopped: " + _pipeline.StatusDetail)
            : HealthCheckResult.Healthy("the request pipeline is running"));
}

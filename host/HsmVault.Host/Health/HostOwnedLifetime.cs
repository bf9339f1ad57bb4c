using Microsoft.Extensions.Hosting;

namespace HsmVault.Host.Health;

/// <summary>
/// The health endpoint's web application is started and stopped by the host, so it must not listen
/// for SIGTERM/Ctrl+C itself (the default console lifetime would, and print its own banner).
/// </summary>
internal sealed class HostOwnedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

using HsmVault.Protocol.Bridge;

namespace HsmVault.Host.Configuration;

/// <summary>How the host reaches its HSM: configuration section <c>Hsm</c>.</summary>
public sealed class HsmOptions
{
    public const string Section = "Hsm";

    /// <summary>The bridge endpoint: <c>unix:/path/to/socket</c> or <c>tcp:host:port</c>.</summary>
    public string Endpoint { get; set; } = string.Empty;

    /// <summary>Time to open the bridge connection.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Time one enclave request (a whole batch) may take before the bridge is declared down.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Typical pause before the first new attempt to reach an unreachable HSM; later pauses grow
    /// exponentially (with jitter, so a fleet of hosts does not retry in step) up to <see cref="MaxReconnectDelay"/>.
    /// </summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest pause between attempts to reach an unreachable HSM.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most operations in one batch; keep at or below the enclave policy's batch limit.</summary>
    public int MaxBatchOperations { get; set; } = 64;

    /// <summary>Largest bridge frame, both ways; a batch is cut before its encoding would exceed it.</summary>
    public int MaxFrameBytes { get; set; } = 64 * 1024;

    /// <summary>Extra time the batcher waits for more requests before sending a batch (0: send as soon as the HSM is free).</summary>
    public TimeSpan BatchWindow { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// The problems with these settings, each naming the option; empty when valid.
    /// <paramref name="endpointRequired"/> is false when a bridge other than the socket bridge is plugged in.
    /// </summary>
    public IReadOnlyList<string> Problems(bool endpointRequired = true)
    {
        List<string> problems = [];
        if (endpointRequired && !BridgeEndpoint.TryParse(Endpoint, out _, out string? error))
        {
            problems.Add($"Hsm:Endpoint: {error}");
        }

        ClientListenerOptions.RequirePositive(problems, "Hsm:ConnectTimeout", ConnectTimeout);
        ClientListenerOptions.RequirePositive(problems, "Hsm:RequestTimeout", RequestTimeout);
        ClientListenerOptions.RequirePositive(problems, "Hsm:ReconnectDelay", ReconnectDelay);
        if (MaxReconnectDelay < ReconnectDelay || MaxReconnectDelay > TimeSpan.FromHours(1))
        {
            problems.Add($"Hsm:MaxReconnectDelay: {MaxReconnectDelay}, must be at least Hsm:ReconnectDelay ({ReconnectDelay}) and at most 01:00:00");
        }
        if (MaxBatchOperations < 1)
        {
            problems.Add($"Hsm:MaxBatchOperations: {MaxBatchOperations}, must be positive");
        }

        if (MaxFrameBytes < 4096)
        {
            problems.Add($"Hsm:MaxFrameBytes: {MaxFrameBytes}, must be at least 4096");
        }

        if (BatchWindow < TimeSpan.Zero)
        {
            problems.Add($"Hsm:BatchWindow: {BatchWindow}, must not be negative");
        }

        return problems;
    }
}

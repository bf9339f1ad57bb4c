using System.Net;

namespace HsmVault.Host.Configuration;

/// <summary>The loopback health/metrics endpoint: configuration section <c>Health</c>.</summary>
public sealed class HealthOptions
{
    public const string Section = "Health";

    /// <summary>Whether the endpoint runs.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Address it binds; must be loopback, as it is unauthenticated.</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free port (tests).</summary>
    public int Port { get; set; } = 7390;

    /// <summary>
    /// How often an idle host asks the HSM for its state and reads the store, so readiness reflects a
    /// dead HSM or store within about this long even when no client is sending requests.
    /// </summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a probe waits for the HSM's answer before counting it as down (shorter than a batch's Hsm:RequestTimeout).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The problems with these settings, each naming the option; empty when valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        List<string> problems = [];
        if (!IPAddress.TryParse(ListenAddress, out IPAddress? address))
        {
            problems.Add($"Health:ListenAddress: '{ListenAddress}' is not an IP address");
        }
        else if (!IPAddress.IsLoopback(address))
        {
            problems.Add($"Health:ListenAddress: {address} is not a loopback address; the health endpoint is unauthenticated");
        }

        if (Port is < 0 or > 65535)
        {
            problems.Add($"Health:Port: {Port} is not a TCP port (0-65535)");
        }

        ClientListenerOptions.RequirePositive(problems, "Health:ProbeInterval", ProbeInterval);
        ClientListenerOptions.RequirePositive(problems, "Health:ProbeTimeout", ProbeTimeout);

        return problems;
    }
}

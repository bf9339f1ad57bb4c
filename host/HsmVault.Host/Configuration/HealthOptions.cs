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

        return problems;
    }
}

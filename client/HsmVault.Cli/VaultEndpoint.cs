using System.Globalization;

namespace HsmVault.Cli;

/// <summary>A vault host address given as <c>host:port</c> (IPv6 as <c>[addr]:port</c>).</summary>
public sealed record VaultEndpoint(string Host, int Port)
{
    /// <summary>
    /// Parses a comma-separated list of host:port (the first is tried first, the others on failover);
    /// throws <see cref="CliInputException"/> naming <paramref name="source"/>, the entry and the problem.
    /// </summary>
    public static IReadOnlyList<VaultEndpoint> ParseList(string text, string source)
    {
        string[] parts = text.Split(',');
        var endpoints = new List<VaultEndpoint>(parts.Length);
        for (int i = 0; i < parts.Length; i++)
        {
            if (parts[i].Trim().Length == 0)
            {
                throw new CliInputException($"{source}: '{text}': entry {i + 1} is empty (separate hosts with commas: a:7300,b:7300)");
            }

            VaultEndpoint endpoint = Parse(parts[i], source);
            if (endpoints.Contains(endpoint))
            {
                throw new CliInputException($"{source}: '{text}': {parts[i].Trim()} is listed twice");
            }

            endpoints.Add(endpoint);
        }

        return endpoints;
    }

    /// <summary>Parses <paramref name="text"/>; throws <see cref="CliInputException"/> naming <paramref name="source"/> and the problem.</summary>
    public static VaultEndpoint Parse(string text, string source)
    {
        string trimmed = text.Trim();
        int colon = trimmed.LastIndexOf(':');
        if (colon <= 0 || colon == trimmed.Length - 1)
        {
            throw new CliInputException($"{source}: '{text}' is not host:port (for example 127.0.0.1:7300)");
        }

        string host = trimmed[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        else if (host.Contains(':'))
        {
            throw new CliInputException($"{source}: '{text}': write an IPv6 address in brackets, e.g. [::1]:7300");
        }

        if (!int.TryParse(trimmed[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
        {
            throw new CliInputException($"{source}: '{text}': the port must be a number from 1 to 65535");
        }

        return host.Length == 0
            ? throw new CliInputException($"{source}: '{text}': the host is empty")
            : new VaultEndpoint(host, port);
    }
}

namespace HsmVault.Host.Configuration;

/// <summary>The host's configuration is invalid; <see cref="Problems"/> names each bad option.</summary>
public sealed class HostConfigurationException : Exception
{
    public HostConfigurationException(IReadOnlyList<string> problems)
        : base("invalid configuration:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  " + p)))
    {
        Problems = problems;
    }

    public IReadOnlyList<string> Problems { get; }
}

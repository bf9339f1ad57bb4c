namespace HsmVault.Cli;

/// <summary>
/// An option or input the user gave is unusable; the message names it and says what was wrong.
/// <paramref name="isUsage"/> marks a wrong command line (a missing or conflicting option), which
/// is followed by a hint to --help; an unreadable file or a bad value is not.
/// </summary>
public sealed class CliInputException(string message, bool isUsage = false) : Exception(message)
{
    /// <summary>True when the command line itself is wrong, so the help is worth pointing to.</summary>
    public bool IsUsage { get; } = isUsage;
}

namespace HsmVault.Cli;

/// <summary>An option or input the user gave is unusable; the message names it and says what was wrong.</summary>
public sealed class CliInputException(string message) : Exception(message);

namespace HsmVault.Testing;

/// <summary>A response that a test expected to be the fleet's sealed answer was not (clear, or did not open).</summary>
public sealed class ChannelRefusedException(string message) : Exception(message);

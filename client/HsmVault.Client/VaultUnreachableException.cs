namespace HsmVault.Client;

/// <summary>The connection to the vault failed or timed out; <see cref="VaultClient"/> turns it into <see cref="Unavailable"/>.</summary>
internal sealed class VaultUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

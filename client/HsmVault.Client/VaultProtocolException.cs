namespace HsmVault.Client;

/// <summary>The vault's answer broke the protocol; <see cref="VaultClient"/> turns it into <see cref="ProtocolError"/>.</summary>
internal sealed class VaultProtocolException(string message, Exception? inner = null) : Exception(message, inner);

namespace HsmVault.Crypto.Opaque;

/// <summary>The client's result of a successful login: KE3 to send, the session key, the export key and the server key.</summary>
public sealed record LoginResult(byte[] KE3, byte[] SessionKey, byte[] ExportKey, byte[] ServerPublicKey);

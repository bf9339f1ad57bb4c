namespace HsmVault.Crypto.Opaque;

/// <summary>The client's result of registration: the record to upload, the export key and the server key it bound to.</summary>
public sealed record RegistrationResult(byte[] Record, byte[] ExportKey, byte[] ServerPublicKey);

using System.Security.Cryptography;

namespace HsmVault.Client;

/// <summary>
/// Recovery succeeded: <see cref="Key"/> is the backup key K. The caller owns the bytes; call
/// <see cref="Dispose"/> (or zero them) once K has been used.
/// </summary>
public sealed record KeyRecovered(byte[] Key) : VaultOutcome, IDisposable
{
    public override string Describe() => $"recovered a {Key.Length}-byte key";

    /// <summary>Zeroes <see cref="Key"/>.</summary>
    public void Dispose() => CryptographicOperations.ZeroMemory(Key);
}

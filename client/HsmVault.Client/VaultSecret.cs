using System.Security.Cryptography;

namespace HsmVault.Client;

/// <summary>What a <see cref="VaultSecret"/> is, which decides how it enters OPAQUE.</summary>
public enum VaultSecretKind
{
    /// <summary>A password a person types: low entropy, so it is stretched with the configured KSF (Argon2id by default).</summary>
    Password,

    /// <summary>
    /// The 32-byte output of the WebAuthn PRF extension of a passkey: a uniformly random 256-bit
    /// secret, so it is not stretched.
    /// </summary>
    PasskeyPrf,
}

/// <summary>
/// The secret that protects a user's backup key: a password or a passkey's PRF output. The two
/// kinds are domain-separated, so a passkey secret presented as a password (or the reverse) is a
/// wrong secret, never the same record. The instance holds a copy of the bytes; <see cref="Dispose"/>
/// zeroes it. Nothing here ever prints the secret.
/// </summary>
public sealed class VaultSecret : IDisposable
{
    /// <summary>The longest password accepted, in bytes (UTF-8): far above any typed password, far below the OPRF's input limit.</summary>
    public const int MaxPasswordBytes = 1024;

    /// <summary>The size of a WebAuthn PRF output (HMAC-SHA-256), the only size accepted for a passkey secret.</summary>
    public const int PasskeyPrfBytes = 32;

    private readonly byte[] _opaqueInput;
    private bool _disposed;

    private VaultSecret(VaultSecretKind kind, byte[] opaqueInput)
    {
        Kind = kind;
        _opaqueInput = opaqueInput;
    }

    /// <summary>The kind of secret.</summary>
    public VaultSecretKind Kind { get; }

    // The OPAQUE password input of a passkey secret is this label followed by the 32 bytes; a
    // password is its own bytes. The label starts with a NUL so no typed password carries it, and
    // FromPassword refuses one that does: a passkey secret and a password can therefore never give
    // the same OPRF input, whatever KSF is configured (with the identity KSF of the tests too).
    private static ReadOnlySpan<byte> PasskeyLabel => "\0HsmVault-v1 passkey PRF secret\0"u8;

    /// <summary>
    /// A password (its UTF-8 bytes, 1 to <see cref="MaxPasswordBytes"/>). Throws
    /// <see cref="ArgumentException"/> naming the password when it is empty, too long, or begins
    /// with the label reserved for passkey secrets.
    /// </summary>
    public static VaultSecret FromPassword(ReadOnlySpan<byte> password)
    {
        if (password.IsEmpty)
        {
            throw new ArgumentException("password: must not be empty", nameof(password));
        }

        if (password.Length > MaxPasswordBytes)
        {
            throw new ArgumentException($"password: {password.Length} bytes, at most {MaxPasswordBytes} are allowed", nameof(password));
        }

        if (password.StartsWith(PasskeyLabel))
        {
            throw new ArgumentException("password: begins with the label reserved for passkey secrets", nameof(password));
        }

        return new VaultSecret(VaultSecretKind.Password, password.ToArray());
    }

    /// <summary>
    /// A passkey secret: the <see cref="PasskeyPrfBytes"/>-byte output of the WebAuthn PRF extension
    /// (evaluated with a fixed, per-vault salt). It is not stretched, which is safe only because it
    /// is a uniformly random 256-bit value (docs/CLIENT.md, "Passkeys"). Throws
    /// <see cref="ArgumentException"/> unless it is exactly 32 bytes.
    /// </summary>
    public static VaultSecret FromPasskeyPrf(ReadOnlySpan<byte> prfOutput)
    {
        if (prfOutput.Length != PasskeyPrfBytes)
        {
            throw new ArgumentException(
                $"passkey secret: {prfOutput.Length} bytes, expected exactly {PasskeyPrfBytes} (the WebAuthn PRF output)", nameof(prfOutput));
        }

        byte[] input = new byte[PasskeyLabel.Length + PasskeyPrfBytes];
        PasskeyLabel.CopyTo(input);
        prfOutput.CopyTo(input.AsSpan(PasskeyLabel.Length));
        return new VaultSecret(VaultSecretKind.PasskeyPrf, input);
    }

    /// <summary>The bytes that enter OPAQUE as its "password".</summary>
    internal ReadOnlySpan<byte> OpaqueInput
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _opaqueInput;
        }
    }

    /// <summary>Zeroes the copy of the secret.</summary>
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_opaqueInput);
        _disposed = true;
    }

    /// <summary>Never the secret.</summary>
    public override string ToString() => $"VaultSecret({Kind})";
}

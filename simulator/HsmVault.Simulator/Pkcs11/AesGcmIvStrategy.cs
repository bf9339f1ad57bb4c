using System.Security.Cryptography;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// Turns one token AES-GCM encryption, under the seal's derived XAES-256-GCM key, into IV (12) || ciphertext || tag (16),
/// the part of the sealed format after the version byte and the nonce's derivation half (N[12:24] is this IV),
/// whichever of the <see cref="Pkcs11GcmIvMode"/> layouts the token uses. Fails closed on anything
/// that could mean a repeated or unknown IV (an IV buffer the token left zeroed, an output of the
/// wrong length, two IVs that disagree): with GCM a repeated IV under one key gives away the
/// authentication key, so a record sealed under a guessed IV must never be released.
/// </summary>
internal sealed class AesGcmIvStrategy
{
    internal const int IvLength = 12;
    internal const int TagLength = 16;

    private AesGcmIvStrategy(Pkcs11GcmIvMode mode) => Mode = mode;

    internal Pkcs11GcmIvMode Mode { get; }

    internal static AesGcmIvStrategy For(Pkcs11GcmIvMode mode) =>
        Enum.IsDefined(mode) ? new AesGcmIvStrategy(mode) : throw new HsmConfigurationException($"Pkcs11Options.GcmIvMode {(int)mode} is not a known mode.");

    /// <summary>Seals <paramref name="plaintext"/> through <paramref name="token"/>; <paramref name="random"/> supplies a caller IV when the mode needs one.</summary>
    internal byte[] Seal(IAesGcmTokenEncryption token, Func<int, byte[]> random, byte[] plaintext, byte[]? associatedData)
    {
        byte[] iv = Mode == Pkcs11GcmIvMode.CallerSupplied ? random(IvLength) : new byte[IvLength];
        if (iv.Length != IvLength)
        {
            throw new CryptographicException($"The token's RNG returned {iv.Length} bytes for a {IvLength}-byte IV.");
        }

        byte[] ivSent = (byte[])iv.Clone();
        AesGcmTokenOutput result = token.Encrypt(iv, associatedData, plaintext);
        return ToSealed(ivSent, result, plaintext.Length);
    }

    /// <summary>The sealed bytes for one encryption; throws <see cref="CryptographicException"/> for any layout the mode does not allow.</summary>
    internal byte[] ToSealed(byte[] ivSent, AesGcmTokenOutput result, int plaintextLength)
    {
        byte[] output = result.Output ?? [];
        byte[] ivAfter = result.IvAfterCall ?? [];
        int expected = plaintextLength + TagLength + (Mode == Pkcs11GcmIvMode.TokenAppendsToOutput ? IvLength : 0);
        if (output.Length != expected)
        {
            throw new CryptographicException(
                $"The token returned {output.Length} bytes of AES-GCM output for {plaintextLength} bytes of plaintext; GCM IV mode {Mode} expects {expected}.");
        }

        if (ivAfter.Length != IvLength)
        {
            throw new CryptographicException($"The CK_GCM_PARAMS IV buffer holds {ivAfter.Length} bytes after the call; expected {IvLength}.");
        }

        byte[] iv;
        byte[] ciphertextAndTag;
        switch (Mode)
        {
            case Pkcs11GcmIvMode.CallerSupplied:
                if (!ivAfter.AsSpan().SequenceEqual(ivSent))
                {
                    throw new CryptographicException($"The token replaced the caller's AES-GCM IV; configure GCM IV mode {Pkcs11GcmIvMode.TokenWritesParameter}.");
                }

                iv = ivSent;
                ciphertextAndTag = output;
                break;

            case Pkcs11GcmIvMode.TokenWritesParameter:
                iv = ivAfter;
                ciphertextAndTag = output;
                break;

            default:
                iv = output[^IvLength..];
                ciphertextAndTag = output[..^IvLength];

                // A token may also fill the buffer; if it does, the two must be the same IV.
                if (!IsZero(ivAfter) && !ivAfter.AsSpan().SequenceEqual(iv))
                {
                    throw new CryptographicException("The token appended one AES-GCM IV and wrote another into CK_GCM_PARAMS.");
                }

                break;
        }

        if (IsZero(iv))
        {
            throw new CryptographicException($"The token left the AES-GCM IV all zero (GCM IV mode {Mode}); it did not generate one, and a fixed IV must never be used.");
        }

        return [.. iv, .. ciphertextAndTag];
    }

    private static bool IsZero(ReadOnlySpan<byte> bytes) => !bytes.ContainsAnyExcept((byte)0);
}

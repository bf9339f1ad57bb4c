using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace HsmVault.Crypto.Xaes;

/// <summary>
/// XAES-256-GCM (c2sp.org/XAES-256-GCM) in software, over BouncyCastle's AES: a 256-bit key, a 192-bit
/// nonce, AES-256-GCM under a key derived per nonce (<see cref="XaesKeyDerivation"/>) with the nonce's last
/// 96 bits. The reference the HSM path is tested against, and the record cipher of the in-memory test HSM;
/// the vault's own record key never exists in software (docs/CRYPTO.md).
/// </summary>
public sealed class XaesGcm : IDisposable
{
    /// <summary>Bytes of the authentication tag.</summary>
    public const int TagLength = 16;

    private readonly AesEngine _base = new();
    private readonly byte[] _subkey = new byte[XaesKeyDerivation.BlockLength];
    private bool _disposed;

    /// <summary>A cipher under the 32-byte <paramref name="key"/> (K1 is computed here, once).</summary>
    public XaesGcm(ReadOnlySpan<byte> key)
    {
        if (key.Length != XaesKeyDerivation.KeyLength)
        {
            throw new ArgumentException($"An XAES-256-GCM key is {XaesKeyDerivation.KeyLength} bytes.", nameof(key));
        }

        byte[] keyCopy = key.ToArray();
        try
        {
            _base.Init(true, new KeyParameter(keyCopy));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyCopy);
        }

        Span<byte> l = stackalloc byte[XaesKeyDerivation.BlockLength];
        l.Clear();
        _base.ProcessBlock(l, l);
        XaesKeyDerivation.WriteSubkey(l, _subkey);
        XaesKeyDerivation.Forget(l);
    }

    /// <summary>
    /// Writes ciphertext (as long as <paramref name="plaintext"/>) and the 16-byte tag for the 24-byte
    /// <paramref name="nonce"/>, which must never repeat under one key (a random one will not, see docs/CRYPTO.md).
    /// </summary>
    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData = default)
    {
        if (ciphertext.Length != plaintext.Length || tag.Length != TagLength)
        {
            throw new ArgumentException($"The ciphertext is as long as the plaintext and the tag {TagLength} bytes.");
        }

        GcmBlockCipher gcm = Gcm(forEncryption: true, nonce, associatedData);
        byte[] output = new byte[plaintext.Length + TagLength];
        try
        {
            int written = gcm.ProcessBytes(plaintext, output);
            gcm.DoFinal(output.AsSpan(written));
            output.AsSpan(0, plaintext.Length).CopyTo(ciphertext);
            output.AsSpan(plaintext.Length).CopyTo(tag);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(output);
        }
    }

    /// <summary>
    /// Checks <paramref name="tag"/> and writes the plaintext. Returns false, leaving
    /// <paramref name="plaintext"/> zeroed, when the tag does not verify for this key, nonce and associated data.
    /// </summary>
    public bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData = default)
    {
        if (plaintext.Length != ciphertext.Length || tag.Length != TagLength)
        {
            throw new ArgumentException($"The plaintext is as long as the ciphertext and the tag {TagLength} bytes.");
        }

        GcmBlockCipher gcm = Gcm(forEncryption: false, nonce, associatedData);
        byte[] input = [.. ciphertext, .. tag];
        byte[] output = new byte[ciphertext.Length];
        try
        {
            int written = gcm.ProcessBytes(input, output);
            gcm.DoFinal(output.AsSpan(written));
            output.CopyTo(plaintext);
            return true;
        }
        catch (Org.BouncyCastle.Crypto.InvalidCipherTextException)
        {
            plaintext.Clear();
            return false;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(output);
        }
    }

    /// <summary>The derived key Kx for <paramref name="nonce"/> (its first 12 bytes are used), for tests against the specification's intermediate values.</summary>
    public void DeriveKey(ReadOnlySpan<byte> nonce, Span<byte> derivedKey)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (nonce.Length != XaesKeyDerivation.NonceLength || derivedKey.Length != XaesKeyDerivation.KeyLength)
        {
            throw new ArgumentException($"The nonce is {XaesKeyDerivation.NonceLength} bytes and the derived key {XaesKeyDerivation.KeyLength}.");
        }

        XaesKeyDerivation.WriteDerivationInput(_subkey, nonce[..XaesKeyDerivation.DerivationNonceLength], derivedKey);
        _base.ProcessBlock(derivedKey[..XaesKeyDerivation.BlockLength], derivedKey[..XaesKeyDerivation.BlockLength]);
        _base.ProcessBlock(derivedKey[XaesKeyDerivation.BlockLength..], derivedKey[XaesKeyDerivation.BlockLength..]);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        CryptographicOperations.ZeroMemory(_subkey);
    }

    private GcmBlockCipher Gcm(bool forEncryption, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> associatedData)
    {
        byte[] derivedKey = new byte[XaesKeyDerivation.KeyLength];
        try
        {
            DeriveKey(nonce, derivedKey);
            var gcm = new GcmBlockCipher(new AesEngine());
            gcm.Init(forEncryption, new AeadParameters(new KeyParameter(derivedKey), TagLength * 8, nonce[XaesKeyDerivation.DerivationNonceLength..].ToArray(), associatedData.ToArray()));
            return gcm;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(derivedKey);
        }
    }
}

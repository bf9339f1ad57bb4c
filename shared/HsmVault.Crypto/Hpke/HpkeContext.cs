using System.Buffers.Binary;
using System.Security.Cryptography;

namespace HsmVault.Crypto.Hpke;

/// <summary>
/// An HPKE encryption context (RFC 9180 section 5.2): AES-128-GCM under the schedule's key with
/// nonces base_nonce XOR sequence number, and the secret exporter. The same type serves sender
/// (Seal) and recipient (Open); dispose it to zero its keys.
/// </summary>
public sealed class HpkeContext : IDisposable
{
    private readonly byte[] _key;
    private readonly byte[] _baseNonce;
    private readonly byte[] _exporterSecret;
    private ulong _sequence;
    private bool _disposed;

    internal HpkeContext(byte[] key, byte[] baseNonce, byte[] exporterSecret)
    {
        _key = key;
        _baseNonce = baseNonce;
        _exporterSecret = exporterSecret;
    }

    // For the RFC 9180 vector tests: the schedule's outputs.
    internal byte[] Key => (byte[])_key.Clone();

    internal byte[] BaseNonce => (byte[])_baseNonce.Clone();

    internal byte[] ExporterSecret => (byte[])_exporterSecret.Clone();

    /// <summary>The next message's sequence number.</summary>
    public ulong SequenceNumber => _sequence;

    /// <summary>Encrypts <paramref name="plaintext"/> at the current sequence number, then advances it. Returns ciphertext || tag.</summary>
    public byte[] Seal(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        byte[] output = new byte[plaintext.Length + HpkeP256.TagLength];
        Span<byte> nonce = stackalloc byte[HpkeP256.NonceLength];
        ComputeNonce(nonce);
        using (var aes = new AesGcm(_key, HpkeP256.TagLength))
        {
            aes.Encrypt(nonce, plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), associatedData);
        }

        IncrementSequence();
        return output;
    }

    /// <summary>
    /// Decrypts ciphertext || tag at the current sequence number; on success advances it and
    /// returns true. A wrong key, nonce, associated data or any altered byte gives false.
    /// </summary>
    public bool TryOpen(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, out byte[] plaintext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        plaintext = [];
        if (ciphertext.Length < HpkeP256.TagLength)
        {
            return false;
        }

        int length = ciphertext.Length - HpkeP256.TagLength;
        byte[] output = new byte[length];
        Span<byte> nonce = stackalloc byte[HpkeP256.NonceLength];
        ComputeNonce(nonce);
        try
        {
            using var aes = new AesGcm(_key, HpkeP256.TagLength);
            aes.Decrypt(nonce, ciphertext[..length], ciphertext[length..], output, associatedData);
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }

        IncrementSequence();
        plaintext = output;
        return true;
    }

    /// <summary>The secret export interface: <paramref name="length"/> bytes bound to this context and <paramref name="exporterContext"/>.</summary>
    public byte[] Export(ReadOnlySpan<byte> exporterContext, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return HpkeP256.ContextExport(_exporterSecret, exporterContext, length);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        CryptographicOperations.ZeroMemory(_key);
        CryptographicOperations.ZeroMemory(_baseNonce);
        CryptographicOperations.ZeroMemory(_exporterSecret);
        _disposed = true;
    }

    private void ComputeNonce(Span<byte> nonce)
    {
        // I2OSP(seq, Nn) XOR base_nonce; the sequence fits in the last 8 bytes.
        nonce.Clear();
        BinaryPrimitives.WriteUInt64BigEndian(nonce[(HpkeP256.NonceLength - 8)..], _sequence);
        for (int i = 0; i < nonce.Length; i++)
        {
            nonce[i] ^= _baseNonce[i];
        }
    }

    private void IncrementSequence()
    {
        // RFC 9180: the sequence number must not wrap; at 2^64 - 1 the context is exhausted.
        if (_sequence == ulong.MaxValue)
        {
            throw new CryptographicException("HPKE context: message limit reached");
        }

        _sequence++;
    }
}

using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using HsmVault.Crypto.Xaes;
using HsmVault.Enclave;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Utilities;
using ECPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace HsmVault.Simulator;

/// <summary>
/// A seeded, fully deterministic <see cref="IHsmServices"/> for tests and simulations: every key
/// comes from the seed, randomness from an HMAC-DRBG seeded by it, and ECDSA nonces follow RFC 6979.
/// The same seed and the same calls give byte-identical outputs. Keys live in ordinary memory: never
/// use it outside tests.
/// </summary>
public sealed class InMemoryHsmServices : IHsmServices
{
    private readonly Lock _gate = new();
    private readonly InMemoryNvram _nvram;
    private readonly HmacDrbg _random;
    private readonly XaesGcm _recordCipher;
    private readonly Dictionary<HsmHmacKey, byte[]> _hmacKeys = [];
    private readonly ECPrivateKeyParameters _identityKey;
    private readonly BigInteger _akeScalar;
    private readonly byte[] _identityPublicKey;
    private readonly byte[] _akePublicKey;
    private readonly BigInteger _channelScalar;
    private readonly byte[] _channelPublicKey;

    /// <summary>A fresh HSM with empty NVRAM whose keys and random stream derive from <paramref name="seed"/>.</summary>
    public InMemoryHsmServices(ulong seed)
        : this(seed, new InMemoryNvram())
    {
    }

    /// <summary>
    /// An HSM whose keys derive from <paramref name="seed"/> over existing <paramref name="nvram"/>;
    /// reusing the NVRAM of an earlier instance with the same seed simulates a restart.
    /// </summary>
    public InMemoryHsmServices(ulong seed, InMemoryNvram nvram)
        : this(seed, null, nvram)
    {
    }

    /// <summary>
    /// A member of a fleet, for tests only: the fleet keys (record, HMAC, AKE and channel keys)
    /// derive from <paramref name="fleetSeed"/>, shared by every member (the stand-in for key
    /// cloning), and the identity key and random stream from <paramref name="memberSeed"/>.
    /// </summary>
    public InMemoryHsmServices(ulong fleetSeed, ulong memberSeed, InMemoryNvram nvram)
        : this(fleetSeed, (ulong?)memberSeed, nvram)
    {
    }

    private InMemoryHsmServices(ulong seed, ulong? memberSeed, InMemoryNvram nvram)
    {
        ArgumentNullException.ThrowIfNull(nvram);
        _nvram = nvram;

        byte[] master = Master(seed);
        byte[] member = memberSeed is { } m ? Master(m ^ 0x6D656D626572UL) : master;
        try
        {
            byte[] recordKey = Derive(master, "record-key");
            _recordCipher = new XaesGcm(recordKey);
            CryptographicOperations.ZeroMemory(recordKey);
            foreach (HsmHmacKey role in Enum.GetValues<HsmHmacKey>())
            {
                _hmacKeys[role] = Derive(master, $"hmac-key/{role}");
            }

            _identityKey = new ECPrivateKeyParameters(P256.ScalarFrom(Derive(member, "identity-key")), new ECDomainParameters(P256.Parameters));
            _akeScalar = P256.ScalarFrom(Derive(master, "ake-key"));
            _identityPublicKey = P256.Compress(P256.G.Multiply(_identityKey.D));
            _akePublicKey = P256.Compress(P256.G.Multiply(_akeScalar));
            _channelScalar = P256.ScalarFrom(Derive(master, "channel-key"));
            _channelPublicKey = P256.Uncompressed(P256.G.Multiply(_channelScalar));

            // The boot number keeps a restarted instance from replaying the random stream (and so GCM nonces).
            Span<byte> boot = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(boot, nvram.RegisterBoot());
            byte[] drbgSeed = [.. Derive(member, "drbg"), .. boot];
            _random = new HmacDrbg(drbgSeed);
            CryptographicOperations.ZeroMemory(drbgSeed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(master);
            CryptographicOperations.ZeroMemory(member);
        }
    }

    /// <inheritdoc />
    public byte[] IdentityPublicKey => (byte[])_identityPublicKey.Clone();

    /// <inheritdoc />
    public byte[] AkePublicKey => (byte[])_akePublicKey.Clone();

    /// <inheritdoc />
    public byte[] ChannelPublicKey => (byte[])_channelPublicKey.Clone();

    /// <inheritdoc />
    public int NvramCapacity => _nvram.Capacity;

    /// <inheritdoc />
    public void GetRandom(Span<byte> destination)
    {
        lock (_gate)
        {
            _random.Generate(destination);
        }
    }

    /// <inheritdoc />
    public byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        byte[] output = new byte[SealedFormat.SealedLength(plaintext.Length)];
        output[0] = SealedFormat.XaesVersion;
        Span<byte> nonce = output.AsSpan(SealedFormat.VersionLength, SealedFormat.NonceLength);
        GetRandom(nonce);
        Span<byte> body = output.AsSpan(SealedFormat.VersionLength + SealedFormat.NonceLength);
        _recordCipher.Encrypt(nonce, plaintext, body[..plaintext.Length], body[plaintext.Length..], associatedData);
        return output;
    }

    /// <inheritdoc />
    public bool TryUnseal(ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData, out byte[] plaintext)
    {
        plaintext = [];
        if (!SealedFormat.TryParse(sealedData, out ReadOnlySpan<byte> nonce, out ReadOnlySpan<byte> ciphertext, out ReadOnlySpan<byte> tag))
        {
            return false;
        }

        byte[] output = new byte[ciphertext.Length];
        if (!_recordCipher.TryDecrypt(nonce, ciphertext, tag, output, associatedData))
        {
            return false;
        }

        plaintext = output;
        return true;
    }

    /// <inheritdoc />
    public byte[] Hmac(HsmHmacKey key, ReadOnlySpan<byte> data)
    {
        if (!_hmacKeys.TryGetValue(key, out byte[]? secret))
        {
            throw new ArgumentOutOfRangeException(nameof(key), key, "Unknown HMAC key role.");
        }

        return HMACSHA256.HashData(secret, data);
    }

    /// <inheritdoc />
    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        byte[] digest = SHA256.HashData(message);
        var signer = new ECDsaSigner(new HMacDsaKCalculator(new Sha256Digest()));
        signer.Init(true, _identityKey);
        BigInteger[] rs = signer.GenerateSignature(digest);
        return [.. BigIntegers.AsUnsignedByteArray(32, rs[0]), .. BigIntegers.AsUnsignedByteArray(32, rs[1])];
    }

    /// <inheritdoc />
    public byte[] AkeDiffieHellman(ReadOnlySpan<byte> peerPoint)
    {
        ECPoint peer = P256.DecodeCompressed(peerPoint, nameof(peerPoint));

        // A regular ladder: the default BouncyCastle multiplier's timing depends on the secret scalar.
        return P256.Compress(P256.MultiplyRegular(peer, _akeScalar));
    }

    /// <inheritdoc />
    public byte[] ChannelDiffieHellman(ReadOnlySpan<byte> peerPoint)
    {
        ECPoint peer = P256.DecodeUncompressed(peerPoint, nameof(peerPoint));
        return BigIntegers.AsUnsignedByteArray(32, P256.MultiplyRegular(peer, _channelScalar).AffineXCoord.ToBigInteger());
    }

    /// <inheritdoc />
    public byte[] ReadNvram() => _nvram.Read();

    /// <inheritdoc />
    public void WriteNvram(ReadOnlySpan<byte> content) => _nvram.Write(content);

    private static byte[] Derive(byte[] master, string label) => HMACSHA256.HashData(master, Encoding.UTF8.GetBytes(label));

    private static byte[] Master(ulong seed)
    {
        Span<byte> seedBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(seedBytes, seed);
        return SHA256.HashData([.. "HsmVault InMemoryHsmServices v1"u8, .. seedBytes]);
    }
}

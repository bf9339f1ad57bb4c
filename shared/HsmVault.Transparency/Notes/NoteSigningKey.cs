using System.Globalization;
using System.Security.Cryptography;

namespace HsmVault.Transparency.Notes;

/// <summary>
/// An Ed25519 key that signs notes, with the name its signature lines carry. Its text form is the
/// Go sumdb/note signer key, <c>PRIVATE+KEY+name+hex(key ID)+base64(type || seed)</c>, so a key
/// file can be read by that tooling. Dispose zeroes the seed.
/// </summary>
public sealed class NoteSigningKey : IDisposable
{
    private const string Prefix = "PRIVATE+KEY+";

    private readonly byte[] _seed;

    private NoteSigningKey(string name, NoteSignatureType type, byte[] seed)
    {
        Name = name;
        Type = type;
        _seed = seed;
        Verifier = NoteVerifierKey.Create(name, type, Ed25519.PublicKey(seed));
    }

    public string Name { get; }

    public NoteSignatureType Type { get; }

    /// <summary>The matching verifier key (name, key ID, public key).</summary>
    public NoteVerifierKey Verifier { get; }

    /// <summary>The key ID signature lines carry.</summary>
    public uint KeyId => Verifier.KeyId;

    /// <summary>A key from a 32-byte seed.</summary>
    public static NoteSigningKey FromSeed(string name, NoteSignatureType type, ReadOnlySpan<byte> seed)
    {
        NoteKeyName.Check(name, nameof(name));
        NoteVerifierKey.CheckType(type);
        if (seed.Length != Ed25519.SeedLength)
        {
            throw new ArgumentException($"an Ed25519 seed is {Ed25519.SeedLength} bytes, got {seed.Length}", nameof(seed));
        }

        return new NoteSigningKey(name, type, seed.ToArray());
    }

    /// <summary>A fresh key from the system RNG.</summary>
    public static NoteSigningKey Generate(string name, NoteSignatureType type)
    {
        byte[] seed = Ed25519.GenerateSeed();
        try
        {
            return FromSeed(name, type, seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>Reads the signer-key text; the message never holds the key material.</summary>
    public static NoteSigningKey Parse(string skey)
    {
        ArgumentNullException.ThrowIfNull(skey);
        if (!skey.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new NoteFormatException($"signer key: does not start with '{Prefix}'");
        }

        string[] parts = skey[Prefix.Length..].Split('+', 3);
        if (parts.Length != 3 || !NoteKeyName.IsValid(parts[0]))
        {
            throw new NoteFormatException("signer key: expected PRIVATE+KEY+name+keyid+key with a valid name");
        }

        uint keyId = NoteVerifierKey.ParseKeyId(parts[1]) ?? throw new NoteFormatException($"signer key '{parts[0]}': key ID is not 8 lower-case hex digits");
        byte[] material = StrictBase64.Decode(parts[2]) ?? throw new NoteFormatException($"signer key '{parts[0]}': the key is not base64");
        try
        {
            if (material.Length != 1 + Ed25519.SeedLength || !Enum.IsDefined((NoteSignatureType)material[0]))
            {
                throw new NoteFormatException($"signer key '{parts[0]}': expected a type byte and a {Ed25519.SeedLength}-byte Ed25519 seed");
            }

            var key = new NoteSigningKey(parts[0], (NoteSignatureType)material[0], material[1..]);
            if (key.KeyId != keyId)
            {
                key.Dispose();
                throw new NoteFormatException($"signer key '{parts[0]}': key ID {parts[1]} does not match the name and key");
            }

            return key;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(material);
        }
    }

    /// <summary>The Ed25519 signature of <paramref name="message"/>.</summary>
    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Ed25519.Sign(_seed, message);
    }

    /// <summary>The signer-key text (holds the seed: write it only to a protected file).</summary>
    public string ToSecretString()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return $"{Prefix}{Name}+{KeyId.ToString("x8", CultureInfo.InvariantCulture)}+{Convert.ToBase64String([(byte)Type, .. _seed])}";
    }

    /// <summary>Names the key without its secret.</summary>
    public override string ToString() => $"signing key {Verifier}";

    private bool _disposed;

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_seed);
        _disposed = true;
    }
}

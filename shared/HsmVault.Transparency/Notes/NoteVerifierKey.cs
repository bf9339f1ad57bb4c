using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HsmVault.Transparency.Checkpoints;

namespace HsmVault.Transparency.Notes;

/// <summary>
/// A public key that verifies note signatures, in the C2SP verifier-key ("vkey") text form
/// <c>name+hex(key ID)+base64(type || public key)</c>. The key ID is
/// <c>SHA-256(name || 0x0A || type || public key)[:4]</c>, so a vkey whose ID does not match its
/// name and key is refused. Ed25519 (0x01) and Ed25519 cosignature (0x04) keys are supported.
/// </summary>
public sealed class NoteVerifierKey
{
    private readonly byte[] _publicKey;

    private NoteVerifierKey(string name, NoteSignatureType type, byte[] publicKey)
    {
        Name = name;
        Type = type;
        _publicKey = publicKey;
        KeyId = ComputeKeyId(name, type, publicKey);
    }

    /// <summary>The key name that signature lines carry.</summary>
    public string Name { get; }

    /// <summary>The 32-bit key ID signature lines carry after the name.</summary>
    public uint KeyId { get; }

    public NoteSignatureType Type { get; }

    /// <summary>The 32-byte Ed25519 public key.</summary>
    public byte[] PublicKey => (byte[])_publicKey.Clone();

    /// <summary>A verifier key from its parts.</summary>
    public static NoteVerifierKey Create(string name, NoteSignatureType type, ReadOnlySpan<byte> publicKey)
    {
        NoteKeyName.Check(name, nameof(name));
        CheckType(type);
        if (publicKey.Length != Ed25519.PublicKeyLength)
        {
            throw new ArgumentException($"an Ed25519 public key is {Ed25519.PublicKeyLength} bytes, got {publicKey.Length}", nameof(publicKey));
        }

        return new NoteVerifierKey(name, type, publicKey.ToArray());
    }

    /// <summary>Reads a vkey; throws <see cref="NoteFormatException"/> naming the part at fault.</summary>
    public static NoteVerifierKey Parse(string vkey)
    {
        ArgumentNullException.ThrowIfNull(vkey);

        // The base64 part may itself hold '+': only the first two separate fields.
        string[] parts = vkey.Split('+', 3);
        if (parts.Length != 3)
        {
            throw new NoteFormatException($"verifier key '{vkey}': expected name+keyid+key");
        }

        (string name, string id, string key) = (parts[0], parts[1], parts[2]);
        if (!NoteKeyName.IsValid(name))
        {
            throw new NoteFormatException($"verifier key '{vkey}': '{name}' is not a key name");
        }

        uint keyId = ParseKeyId(id) ?? throw new NoteFormatException($"verifier key '{vkey}': key ID '{id}' is not 8 lower-case hex digits");
        byte[] material = StrictBase64.Decode(key) ?? throw new NoteFormatException($"verifier key '{vkey}': the key is not base64");
        if (material.Length == 0 || !Enum.IsDefined((NoteSignatureType)material[0]))
        {
            throw new NoteFormatException($"verifier key '{vkey}': unsupported signature type {(material.Length == 0 ? "(none)" : $"0x{material[0]:x2}")}");
        }

        if (material.Length != 1 + Ed25519.PublicKeyLength)
        {
            throw new NoteFormatException($"verifier key '{vkey}': an Ed25519 key is {Ed25519.PublicKeyLength} bytes, got {material.Length - 1}");
        }

        var verifier = new NoteVerifierKey(name, (NoteSignatureType)material[0], material[1..]);
        if (verifier.KeyId != keyId)
        {
            throw new NoteFormatException($"verifier key '{vkey}': key ID {id} does not match the name and key ({verifier.KeyId:x8})");
        }

        return verifier;
    }

    /// <summary>SHA-256(name || 0x0A || type || public key)[:4], big-endian.</summary>
    public static uint ComputeKeyId(string name, NoteSignatureType type, ReadOnlySpan<byte> publicKey)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        byte[] input = [.. nameBytes, 0x0A, (byte)type, .. publicKey];
        return BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(input));
    }

    /// <summary>
    /// True when <paramref name="signature"/> (the bytes after the key ID) is this key's signature on
    /// <paramref name="text"/>, the note text with its final newline. For a cosignature key the bytes
    /// are the timestamp and the signature over the cosignature/v1 message.
    /// </summary>
    public bool Verify(ReadOnlySpan<byte> text, ReadOnlySpan<byte> signature) => Type switch
    {
        NoteSignatureType.Ed25519 => Ed25519.Verify(_publicKey, text, signature),
        NoteSignatureType.Ed25519Cosignature => Cosignature.TryRead(signature, out ulong timestamp, out ReadOnlySpan<byte> ed25519)
            && Ed25519.Verify(_publicKey, Cosignature.SignedMessage(timestamp, text), ed25519),
        _ => false,
    };

    /// <summary>The vkey text.</summary>
    public override string ToString() =>
        $"{Name}+{KeyId.ToString("x8", CultureInfo.InvariantCulture)}+{Convert.ToBase64String([(byte)Type, .. _publicKey])}";

    internal static uint? ParseKeyId(string id) =>
        id.Length == 8 && id.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f')
            ? uint.Parse(id, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
            : null;

    internal static void CheckType(NoteSignatureType type)
    {
        if (!Enum.IsDefined(type))
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported signature type");
        }
    }
}

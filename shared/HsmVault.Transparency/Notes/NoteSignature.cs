using System.Globalization;

namespace HsmVault.Transparency.Notes;

/// <summary>One signature line of a note: <c>— name base64(key ID || signature)</c>.</summary>
public sealed class NoteSignature
{
    private readonly byte[] _signature;

    public NoteSignature(string name, uint keyId, ReadOnlySpan<byte> signature)
    {
        NoteKeyName.Check(name, nameof(name));
        if (signature.IsEmpty)
        {
            throw new ArgumentException("a note signature holds at least one byte after the key ID", nameof(signature));
        }

        Name = name;
        KeyId = keyId;
        _signature = signature.ToArray();
    }

    public string Name { get; }

    public uint KeyId { get; }

    /// <summary>The bytes after the key ID (for a cosignature: timestamp then Ed25519 signature).</summary>
    public byte[] Signature => (byte[])_signature.Clone();

    /// <summary>The line, with its em dash and final newline.</summary>
    public string ToLine() => $"\u2014 {Name} {Convert.ToBase64String([.. KeyIdBytes(), .. _signature])}\n";

    public override string ToString() => $"{Name}+{KeyId.ToString("x8", CultureInfo.InvariantCulture)}";

    internal bool SameLine(NoteSignature other) =>
        Name == other.Name && KeyId == other.KeyId && _signature.AsSpan().SequenceEqual(other._signature);

    internal ReadOnlySpan<byte> SignatureSpan => _signature;

    private byte[] KeyIdBytes()
    {
        var id = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(id, KeyId);
        return id;
    }
}

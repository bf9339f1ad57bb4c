using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using HsmVault.Transparency.Merkle;

namespace HsmVault.Transparency.Epochs;

/// <summary>
/// What the witness states for each epoch: (namespace, epoch, SHA-256 of the fleet-key file's
/// canonical bytes). Its bytes are both the log leaf and the message the witness signs:
/// <code>
/// "HsmVault-v1 witness epoch" || 0x00 || u8(len(namespace)) || namespace || u64_be(epoch) || digest (32)
/// </code>
/// The 0x00 keeps these bytes from ever being a signed note's text (notes hold no control
/// character), so the witness's Ed25519 key can sign checkpoints and statements without one
/// being taken for the other.
/// </summary>
public sealed class EpochStatement
{
    /// <summary>The label that starts the bytes.</summary>
    public const string Label = "HsmVault-v1 witness epoch";

    private readonly byte[] _digest;

    public EpochStatement(string @namespace, long epoch, ReadOnlySpan<byte> fleetKeysDigest)
    {
        FleetNamespace.Check(@namespace, nameof(@namespace));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epoch);
        if (fleetKeysDigest.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException($"a fleet-key digest is {SHA256.HashSizeInBytes} bytes, got {fleetKeysDigest.Length}", nameof(fleetKeysDigest));
        }

        Namespace = @namespace;
        Epoch = epoch;
        _digest = fleetKeysDigest.ToArray();
    }

    public string Namespace { get; }

    /// <summary>The epoch number: positive, and strictly increasing within a namespace's log.</summary>
    public long Epoch { get; }

    /// <summary>SHA-256 of the fleet-key file's canonical JSON.</summary>
    public byte[] FleetKeysDigest => (byte[])_digest.Clone();

    /// <summary>The bytes the witness signs and the log holds as the leaf.</summary>
    public byte[] ToBytes()
    {
        byte[] label = Encoding.ASCII.GetBytes(Label);
        byte[] name = Encoding.ASCII.GetBytes(Namespace);
        var bytes = new byte[label.Length + 1 + 1 + name.Length + 8 + _digest.Length];
        int at = 0;
        label.CopyTo(bytes, at);
        at += label.Length;
        bytes[at++] = 0x00;
        bytes[at++] = (byte)name.Length;
        name.CopyTo(bytes, at);
        at += name.Length;
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(at), Epoch);
        at += 8;
        _digest.CopyTo(bytes, at);
        return bytes;
    }

    /// <summary>The RFC 6962 leaf hash of <see cref="ToBytes"/>.</summary>
    public byte[] LeafHash() => Rfc6962.LeafHash(ToBytes());

    /// <summary>True when both state the same namespace, epoch and digest.</summary>
    public bool SameAs(EpochStatement other) =>
        other is not null && Namespace == other.Namespace && Epoch == other.Epoch && _digest.AsSpan().SequenceEqual(other._digest);

    public override string ToString() => $"{Namespace} epoch {Epoch} digest {Convert.ToHexStringLower(_digest)}";
}

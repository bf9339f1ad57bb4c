using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Checkpoints;

/// <summary>
/// Ed25519 checkpoint cosignatures, c2sp.org/tlog-cosignature (signature type 0x04): the note
/// signature bytes are <c>u64_be(timestamp) || Ed25519(message)</c> and the message is
/// <c>"cosignature/v1\n" || "time " || decimal(timestamp) || "\n" || checkpoint text</c>. A
/// cosignature says the cosigner saw this tree head as the largest consistent one for the origin
/// at that time; checking it against a pinned key is <see cref="NoteVerifierKey.Verify"/>.
/// </summary>
public static class Cosignature
{
    /// <summary>The header line that separates cosignature messages from every other Ed25519 use.</summary>
    public const string Header = "cosignature/v1";

    /// <summary>The length of a cosignature's bytes after the key ID.</summary>
    public const int Length = 8 + Ed25519.SignatureLength;

    /// <summary>The message the cosigner signs.</summary>
    public static byte[] SignedMessage(ulong timestamp, ReadOnlySpan<byte> checkpointText)
    {
        CheckTimestamp(timestamp);
        byte[] head = Encoding.ASCII.GetBytes($"{Header}\ntime {timestamp.ToString(CultureInfo.InvariantCulture)}\n");
        return [.. head, .. checkpointText];
    }

    /// <summary>The cosignature line of <paramref name="key"/> (type 0x04) on <paramref name="checkpointText"/>.</summary>
    public static NoteSignature Sign(NoteSigningKey key, ulong timestamp, string checkpointText)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Type != NoteSignatureType.Ed25519Cosignature)
        {
            throw new ArgumentException($"{key}: a cosignature needs a key of type {NoteSignatureType.Ed25519Cosignature}", nameof(key));
        }

        byte[] signature = key.Sign(SignedMessage(timestamp, Encoding.UTF8.GetBytes(checkpointText)));
        var bytes = new byte[Length];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, timestamp);
        signature.CopyTo(bytes, 8);
        return new NoteSignature(key.Name, key.KeyId, bytes);
    }

    /// <summary>Splits a cosignature's bytes into its timestamp and Ed25519 signature.</summary>
    public static bool TryRead(ReadOnlySpan<byte> signature, out ulong timestamp, out ReadOnlySpan<byte> ed25519)
    {
        timestamp = 0;
        ed25519 = default;
        if (signature.Length != Length)
        {
            return false;
        }

        timestamp = BinaryPrimitives.ReadUInt64BigEndian(signature);
        ed25519 = signature[8..];
        return timestamp <= long.MaxValue;
    }

    private static void CheckTimestamp(ulong timestamp)
    {
        if (timestamp > long.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(timestamp), timestamp, "a cosignature timestamp is at most 2^63 - 1");
        }
    }
}

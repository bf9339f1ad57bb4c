using System.Buffers.Binary;

namespace HsmVault.Enclave;

/// <summary>
/// What NVRAM holds: the index and MAC of the last committed log entry and the Merkle root it
/// carries. Layout (77 bytes): "HSMV" || format 0x01 || u64_be index || root (32) || entry MAC (32).
/// </summary>
internal sealed record CommittedState(ulong LogIndex, byte[] MerkleRoot, byte[] EntryMac)
{
    public const int EncodedBytes = 4 + 1 + 8 + 32 + 32;

    private const byte Format = 0x01;

    private static ReadOnlySpan<byte> Magic => "HSMV"u8;

    public byte[] Encode()
    {
        byte[] bytes = new byte[EncodedBytes];
        Magic.CopyTo(bytes);
        bytes[4] = Format;
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(5), LogIndex);
        MerkleRoot.CopyTo(bytes, 13);
        EntryMac.CopyTo(bytes, 45);
        return bytes;
    }

    /// <summary>Parses NVRAM content; null when it is not a state this code wrote.</summary>
    public static CommittedState? TryDecode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != EncodedBytes || !bytes[..4].SequenceEqual(Magic) || bytes[4] != Format)
        {
            return null;
        }

        return new CommittedState(
            BinaryPrimitives.ReadUInt64BigEndian(bytes[5..]),
            bytes.Slice(13, 32).ToArray(),
            bytes.Slice(45, 32).ToArray());
    }
}

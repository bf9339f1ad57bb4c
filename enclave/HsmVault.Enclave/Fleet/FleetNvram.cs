using System.Buffers.Binary;

namespace HsmVault.Enclave.Fleet;

/// <summary>
/// A fleet member's NVRAM: the fleet and configuration it belongs to and the last entry it
/// captured. Layout (89 bytes): format 0x02 || fleet id (16) || configuration hash (32) ||
/// u64_be captured index || captured entry MAC (32).
/// </summary>
internal sealed record FleetNvram(byte[] FleetId, byte[] ConfigurationHash, ulong CapturedIndex, byte[] CapturedMac)
{
    public const int EncodedBytes = 1 + FleetMacs.FleetIdBytes + 32 + 8 + FleetMacs.MacBytes;

    private const byte Format = 0x02;

    public byte[] Encode()
    {
        byte[] bytes = new byte[EncodedBytes];
        bytes[0] = Format;
        FleetId.CopyTo(bytes, 1);
        ConfigurationHash.CopyTo(bytes, 17);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(49), CapturedIndex);
        CapturedMac.CopyTo(bytes, 57);
        return bytes;
    }

    /// <summary>Parses NVRAM content; null when it is not a fleet member's state.</summary>
    public static FleetNvram? TryDecode(ReadOnlySpan<byte> bytes) =>
        bytes.Length != EncodedBytes || bytes[0] != Format
            ? null
            : new FleetNvram(bytes.Slice(1, 16).ToArray(), bytes.Slice(17, 32).ToArray(), BinaryPrimitives.ReadUInt64BigEndian(bytes[49..]), bytes.Slice(57, 32).ToArray());
}

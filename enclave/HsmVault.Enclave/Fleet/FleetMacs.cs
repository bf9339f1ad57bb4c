using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Fleet;

/// <summary>
/// The exact bytes every fleet MAC and hash covers (docs/REPLICATION.md, "Exact bytes"), in one
/// place so a golden-file test pins them all.
/// </summary>
internal static class FleetMacs
{
    public const int MemberIdBytes = 16;

    public const int FleetIdBytes = 16;

    public const int MacBytes = 32;

    public const int NonceBytes = 32;

    public static ReadOnlySpan<byte> MemberIdLabel => "HsmVault-v1 member id"u8;

    public static ReadOnlySpan<byte> ConfigurationLabel => "HsmVault-v1 fleet configuration"u8;

    public static ReadOnlySpan<byte> EntryLabel => "HsmVault-v1 fleet entry"u8;

    public static ReadOnlySpan<byte> CapturedLabel => "HsmVault-v1 captured"u8;

    public static ReadOnlySpan<byte> VouchLabel => "HsmVault-v1 vouch"u8;

    public static byte[] MemberId(ReadOnlySpan<byte> identityPublicKey) =>
        SHA256.HashData([.. MemberIdLabel, .. identityPublicKey])[..MemberIdBytes];

    public static byte[] ConfigurationBytes(FleetConfiguration configuration)
    {
        var bytes = new List<byte>(256);
        bytes.AddRange(ConfigurationLabel);
        AddU32(bytes, (uint)configuration.Members.Count);
        foreach (FleetMemberKey member in configuration.Members)
        {
            bytes.AddRange(MemberId(member.IdentityPublicKey.Span));
            AddLengthPrefixed(bytes, member.IdentityPublicKey.Span);
        }

        AddU32(bytes, configuration.Quorum);
        AddU32(bytes, configuration.AttemptLimit);
        AddLengthPrefixed(bytes, configuration.OperatorPublicKey.Span);
        AddLengthPrefixed(bytes, Encoding.UTF8.GetBytes(configuration.OpaqueContext));
        return [.. bytes];
    }

    public static byte[] ConfigurationHash(FleetConfiguration configuration) => SHA256.HashData(ConfigurationBytes(configuration));

    public static byte[] EntryMacInput(ReadOnlySpan<byte> fleetId, ReadOnlySpan<byte> configurationHash, FleetEntry entry)
    {
        var bytes = new List<byte>(128 + (entry.Updates.Count * 64));
        bytes.AddRange(EntryLabel);
        bytes.AddRange(fleetId);
        bytes.AddRange(configurationHash);
        AddU64(bytes, entry.Index);
        bytes.AddRange(entry.PrevMac.Span);
        bytes.AddRange(entry.MerkleRoot.Span);
        bytes.AddRange(entry.Leader.Span);
        AddU32(bytes, (uint)entry.Updates.Count);
        foreach (LeafUpdate update in entry.Updates)
        {
            bytes.AddRange(update.Key.Span);
            bytes.AddRange(update.ValueHash.IsEmpty ? new byte[MacBytes] : update.ValueHash.Span);
        }

        return [.. bytes];
    }

    public static byte[] CapturedInput(ReadOnlySpan<byte> fleetId, ReadOnlySpan<byte> configurationHash, ReadOnlySpan<byte> member, ulong index, ReadOnlySpan<byte> entryMac)
    {
        var bytes = new List<byte>(160);
        bytes.AddRange(CapturedLabel);
        bytes.AddRange(fleetId);
        bytes.AddRange(configurationHash);
        bytes.AddRange(member);
        AddU64(bytes, index);
        bytes.AddRange(entryMac);
        return [.. bytes];
    }

    public static byte[] VouchInput(
        ReadOnlySpan<byte> fleetId, ReadOnlySpan<byte> configurationHash, ReadOnlySpan<byte> voucher, ReadOnlySpan<byte> joiner,
        ReadOnlySpan<byte> nonce, ulong index, ReadOnlySpan<byte> entryMac)
    {
        var bytes = new List<byte>(200);
        bytes.AddRange(VouchLabel);
        bytes.AddRange(fleetId);
        bytes.AddRange(configurationHash);
        bytes.AddRange(voucher);
        bytes.AddRange(joiner);
        bytes.AddRange(nonce);
        AddU64(bytes, index);
        bytes.AddRange(entryMac);
        return [.. bytes];
    }

    private static void AddU32(List<byte> bytes, uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(buffer, value);
        bytes.AddRange(buffer);
    }

    private static void AddU64(List<byte> bytes, ulong value)
    {
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(buffer, value);
        bytes.AddRange(buffer);
    }

    private static void AddLengthPrefixed(List<byte> bytes, ReadOnlySpan<byte> value)
    {
        AddU32(bytes, (uint)value.Length);
        bytes.AddRange(value);
    }
}

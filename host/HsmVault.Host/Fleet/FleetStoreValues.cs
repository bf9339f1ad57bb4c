using System.Buffers.Binary;
using Google.Protobuf;
using HsmVault.Host.Store;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Fleet;

/// <summary>
/// How a fleet keeps its shared state in the hosts' store: the log's entries (a <see cref="FleetEntry"/>
/// in the store's log row, as a <see cref="LogEntry"/> with its leader set), and three fleet values:
/// the configuration, the fleet id (both written once, at genesis) and the leader lease.
/// None of it is trusted: the HSMs check every entry's MAC and the configuration's hash.
/// </summary>
internal static class FleetStoreValues
{
    public const string Configuration = "fleet-configuration";

    public const string FleetId = "fleet-id";

    public const string Lease = "leader-lease";

    public static LogEntry ToLogEntry(FleetEntry entry)
    {
        var row = new LogEntry { Index = entry.Index, PreviousMac = entry.PrevMac, MerkleRoot = entry.MerkleRoot, Mac = entry.Mac, Leader = entry.Leader };
        row.Updates.AddRange(entry.Updates);
        return row;
    }

    public static FleetEntry ToFleetEntry(LogEntry row)
    {
        var entry = new FleetEntry { Index = row.Index, PrevMac = row.PreviousMac, MerkleRoot = row.MerkleRoot, Mac = row.Mac, Leader = row.Leader };
        entry.Updates.AddRange(row.Updates);
        return entry;
    }

    /// <summary>The stored entries after <paramref name="index"/>, up to the store's last, in order.</summary>
    public static List<FleetEntry> EntriesAfter(IVaultStore store, ulong index, int max = 256)
    {
        List<FleetEntry> entries = [];
        for (ulong i = index + 1; i <= store.State.LogIndex && entries.Count < max; i++)
        {
            if (store.FindLogEntry(i) is not { } row)
            {
                break;
            }

            entries.Add(ToFleetEntry(row));
        }

        return entries;
    }

    public static FleetConfiguration? ReadConfiguration(IVaultStore store) =>
        store.ReadFleetValue(Configuration) is { } bytes ? FleetConfiguration.Parser.ParseFrom(bytes) : null;

    /// <summary>A lease: the holder's member position and when it lapses (Unix milliseconds), 12 bytes.</summary>
    public static byte[] EncodeLease(int holder, DateTimeOffset expires)
    {
        byte[] value = new byte[12];
        BinaryPrimitives.WriteInt32BigEndian(value, holder);
        BinaryPrimitives.WriteInt64BigEndian(value.AsSpan(4), expires.ToUnixTimeMilliseconds());
        return value;
    }

    /// <summary>The lease's holder and expiry; (-1, MinValue) for a missing or unreadable lease.</summary>
    public static (int Holder, DateTimeOffset Expires) DecodeLease(byte[]? value) =>
        value is { Length: 12 }
            ? (BinaryPrimitives.ReadInt32BigEndian(value), DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(value.AsSpan(4))))
            : (-1, DateTimeOffset.MinValue);

    public static bool SameMac(ByteString a, ByteString b) => a.Span.SequenceEqual(b.Span);
}

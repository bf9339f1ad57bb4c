using System.Buffers.Binary;
using HsmVault.Protocol.V1;

namespace HsmVault.Protocol;

/// <summary>
/// The exact bytes a log entry's MAC covers (see enclave.proto). Kept here, outside the
/// enclave, so witnesses and tools agree on them byte for byte; a golden test pins them.
/// </summary>
public static class LogEntryCodec
{
    /// <summary>Bytes of a MAC, a root and a key.</summary>
    public const int HashBytes = 32;

    private static ReadOnlySpan<byte> Label => "HsmVault-v1 log entry"u8;

    /// <summary>
    /// "HsmVault-v1 log entry" || fixed64_be(index) || previous_mac || merkle_root ||
    /// u32_be(count) || for each update: key || value_hash (32 zero bytes for a removal).
    /// </summary>
    public static byte[] MacInput(LogEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        RequireLength(entry.PreviousMac.Span, "log_entry.previous_mac");
        RequireLength(entry.MerkleRoot.Span, "log_entry.merkle_root");
        byte[] input = new byte[Label.Length + 8 + HashBytes + HashBytes + 4 + (entry.Updates.Count * 2 * HashBytes)];
        Span<byte> cursor = input;
        Label.CopyTo(cursor);
        cursor = cursor[Label.Length..];
        BinaryPrimitives.WriteUInt64BigEndian(cursor, entry.Index);
        cursor = cursor[8..];
        entry.PreviousMac.Span.CopyTo(cursor);
        cursor = cursor[HashBytes..];
        entry.MerkleRoot.Span.CopyTo(cursor);
        cursor = cursor[HashBytes..];
        BinaryPrimitives.WriteUInt32BigEndian(cursor, (uint)entry.Updates.Count);
        cursor = cursor[4..];
        for (int i = 0; i < entry.Updates.Count; i++)
        {
            LeafUpdate update = entry.Updates[i];
            RequireLength(update.Key.Span, $"log_entry.updates[{i}].key");
            update.Key.Span.CopyTo(cursor);
            cursor = cursor[HashBytes..];
            if (!update.ValueHash.IsEmpty)
            {
                RequireLength(update.ValueHash.Span, $"log_entry.updates[{i}].value_hash");
                update.ValueHash.Span.CopyTo(cursor);
            }

            cursor = cursor[HashBytes..];
        }

        return input;
    }

    private static void RequireLength(ReadOnlySpan<byte> value, string field)
    {
        if (value.Length != HashBytes)
        {
            throw new ArgumentException($"{field}: {value.Length} bytes, expected {HashBytes}", nameof(value));
        }
    }
}

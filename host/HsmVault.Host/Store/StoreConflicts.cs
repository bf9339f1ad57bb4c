using HsmVault.Protocol.V1;

namespace HsmVault.Host.Store;

/// <summary>The append rule every store applies to a log entry before writing it.</summary>
internal static class StoreConflicts
{
    /// <summary>
    /// Null when <paramref name="entry"/> follows the last committed entry (index one higher and,
    /// once there is a last entry, chaining to its MAC); otherwise the sentence for the conflict.
    /// </summary>
    public static string? Check(LogEntry entry, ulong lastIndex, ReadOnlySpan<byte> lastMac)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Index != lastIndex + 1)
        {
            return $"log_entry.index: {entry.Index}, the store expects {lastIndex + 1}";
        }

        // Before the first entry there is no MAC to chain to (the store holds an empty one).
        return lastMac.Length > 0 && !entry.PreviousMac.Span.SequenceEqual(lastMac)
            ? $"log_entry.previous_mac: does not chain to the store's entry {lastIndex}"
            : null;
    }
}

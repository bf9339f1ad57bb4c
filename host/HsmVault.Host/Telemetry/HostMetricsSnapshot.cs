namespace HsmVault.Host.Telemetry;

/// <summary>The host's running metric totals at one moment.</summary>
public sealed record HostMetricsSnapshot(
    long Requests,
    IReadOnlyDictionary<string, long> ErrorsByCode,
    long LoginAttempts,
    long Batches,
    long BatchedOperations,
    long OpenConnections,
    long Records,
    long LatencyCount,
    double LatencyMeanMs,
    IReadOnlyList<KeyValuePair<string, long>> LatencyBuckets);

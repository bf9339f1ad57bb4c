using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Telemetry;

/// <summary>
/// The host's instruments on the <c>HsmVault.Host</c> meter, with running totals kept alongside
/// so the health endpoint can show them without a metrics exporter.
/// </summary>
public sealed class HostMetrics : IDisposable
{
    public const string MeterName = "HsmVault.Host";

    private static readonly double[] LatencyBucketsMs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _batches;
    private readonly Histogram<int> _batchSize;
    private readonly ConcurrentDictionary<string, long> _errorTotals = new(StringComparer.Ordinal);
    private readonly long[] _latencyBuckets = new long[LatencyBucketsMs.Length + 1];
    private long _requestTotal;
    private long _attemptTotal;
    private long _batchTotal;
    private long _batchOperationTotal;
    private long _latencyCount;
    private long _latencySumMicros;
    private long _connections;
    private Func<long> _records = () => 0;

    public HostMetrics()
    {
        _meter = new Meter(MeterName);
        _requests = _meter.CreateCounter<long>("hsmvault.host.requests", "{request}", "Client requests received.");
        _errors = _meter.CreateCounter<long>("hsmvault.host.errors", "{request}", "Client requests answered with an Error, by code.");
        _latency = _meter.CreateHistogram<double>("hsmvault.host.request.duration", "ms", "Time from a request's arrival to its response.");
        _attempts = _meter.CreateCounter<long>("hsmvault.host.login_attempts", "{attempt}", "Login guesses the enclave counted (LoginStart answered with KE2).");
        _batches = _meter.CreateCounter<long>("hsmvault.host.batches", "{batch}", "Batches sent to the enclave.");
        _batchSize = _meter.CreateHistogram<int>("hsmvault.host.batch.operations", "{operation}", "Operations per enclave batch.");
        _meter.CreateObservableGauge("hsmvault.host.records", () => _records(), "{record}", "Sealed records in the store.");
        _meter.CreateObservableUpDownCounter("hsmvault.host.connections", () => Interlocked.Read(ref _connections), "{connection}", "Open client connections.");
    }

    /// <summary>Sets where the record gauge reads from (the store).</summary>
    public void ObserveRecords(Func<long> records) => _records = records ?? throw new ArgumentNullException(nameof(records));

    public void ConnectionOpened() => Interlocked.Increment(ref _connections);

    public void ConnectionClosed() => Interlocked.Decrement(ref _connections);

    /// <summary>Counts a request. Which operation it is travels sealed in the channel: the host cannot tell.</summary>
    public void RequestReceived()
    {
        Interlocked.Increment(ref _requestTotal);
        _requests.Add(1);
    }

    /// <summary>Records the response and the time it took.</summary>
    public void ResponseSent(ClientResponse response, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.ResultCase == ClientResponse.ResultOneofCase.Error)
        {
            ErrorSent(response.Error.Code);
        }

        double ms = elapsed.TotalMilliseconds;
        _latency.Record(ms);
        Interlocked.Increment(ref _latencyCount);
        Interlocked.Add(ref _latencySumMicros, (long)(ms * 1000));
        int bucket = Array.FindIndex(LatencyBucketsMs, bound => ms <= bound);
        Interlocked.Increment(ref _latencyBuckets[bucket < 0 ? LatencyBucketsMs.Length : bucket]);
    }

    /// <summary>Counts an Error response sent outside the request path (refused frames, busy).</summary>
    public void ErrorSent(ErrorCode code)
    {
        string name = code.ToString();
        _errorTotals.AddOrUpdate(name, 1, (_, n) => n + 1);
        _errors.Add(1, new KeyValuePair<string, object?>("code", name));
    }

    public void AttemptCounted()
    {
        Interlocked.Increment(ref _attemptTotal);
        _attempts.Add(1);
    }

    public void BatchSent(int operations)
    {
        Interlocked.Increment(ref _batchTotal);
        Interlocked.Add(ref _batchOperationTotal, operations);
        _batches.Add(1);
        _batchSize.Record(operations);
    }

    /// <summary>The running totals, for the health endpoint.</summary>
    public HostMetricsSnapshot Snapshot()
    {
        long count = Interlocked.Read(ref _latencyCount);
        var buckets = new List<KeyValuePair<string, long>>();
        for (int i = 0; i < _latencyBuckets.Length; i++)
        {
            string bound = i < LatencyBucketsMs.Length ? $"le_{LatencyBucketsMs[i]}ms" : "gt_5000ms";
            buckets.Add(new(bound, Interlocked.Read(ref _latencyBuckets[i])));
        }

        return new HostMetricsSnapshot(
            Interlocked.Read(ref _requestTotal),
            new SortedDictionary<string, long>(_errorTotals, StringComparer.Ordinal),
            Interlocked.Read(ref _attemptTotal),
            Interlocked.Read(ref _batchTotal),
            Interlocked.Read(ref _batchOperationTotal),
            Interlocked.Read(ref _connections),
            _records(),
            count,
            count == 0 ? 0 : Interlocked.Read(ref _latencySumMicros) / 1000.0 / count,
            buckets);
    }

    /// <summary>Starts a latency measurement.</summary>
    public static long Now() => Stopwatch.GetTimestamp();

    public void Dispose() => _meter.Dispose();
}

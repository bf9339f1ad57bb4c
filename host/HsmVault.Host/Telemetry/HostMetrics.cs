using System.Diagnostics;
using System.Diagnostics.Metrics;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Telemetry;

/// <summary>
/// The host's instruments on the <c>HsmVault.Host</c> meter. They are the only record of the
/// metrics: <c>/metrics</c> serves them in the Prometheus text format through OpenTelemetry, and
/// <c>dotnet-counters</c> or any other <c>MeterListener</c> can read them directly.
/// </summary>
public sealed class HostMetrics : IDisposable
{
    public const string MeterName = "HsmVault.Host";

    // Client round trips are milliseconds on a healthy vault and seconds when the HSM struggles.
    private static readonly double[] LatencyBucketsMs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

    // Batches hold 1 to Hsm:MaxBatchOperations (64 by default) operations.
    private static readonly int[] BatchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128];

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _batches;
    private readonly Histogram<int> _batchSize;
    private long _connections;
    private Func<long> _records = () => 0;
    private Func<long> _logIndex = () => 0;
    private Func<bool> _serving = () => false;
    private Func<bool> _enclaveReachable = () => false;

    public HostMetrics()
    {
        _meter = new Meter(MeterName);
        _requests = _meter.CreateCounter<long>("hsmvault.host.requests", "{request}", "Client requests received.");
        _errors = _meter.CreateCounter<long>("hsmvault.host.errors", "{request}", "Client requests answered with an Error, by code.");
        _latency = _meter.CreateHistogram(
            "hsmvault.host.request.duration",
            "ms",
            "Time from a request's arrival to its response.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBucketsMs });
        _batches = _meter.CreateCounter<long>("hsmvault.host.batches", "{batch}", "Batches sent to the enclave.");
        _batchSize = _meter.CreateHistogram(
            "hsmvault.host.batch.operations",
            "{operation}",
            "Operations per enclave batch.",
            tags: null,
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchSizeBuckets });
        _meter.CreateObservableGauge("hsmvault.host.records", () => _records(), "{record}", "Sealed records in the store.");
        _meter.CreateObservableUpDownCounter("hsmvault.host.connections", () => Interlocked.Read(ref _connections), "{connection}", "Open client connections.");
        _meter.CreateObservableGauge("hsmvault.host.log_index", () => _logIndex(), "{entry}", "The store's committed log index.");
        _meter.CreateObservableGauge("hsmvault.host.serving", () => _serving() ? 1 : 0, "{status}", "1 while the vault serves requests (store and HSM agree), else 0.");
        _meter.CreateObservableGauge("hsmvault.host.hsm.reachable", () => _enclaveReachable() ? 1 : 0, "{status}", "1 while the last exchange with the HSM succeeded, else 0.");
    }

    /// <summary>The meter the instruments are on (tests listen to this instance only).</summary>
    internal Meter Meter => _meter;

    /// <summary>Sets where the record gauge reads from (the store).</summary>
    public void ObserveRecords(Func<long> records) => _records = records ?? throw new ArgumentNullException(nameof(records));

    /// <summary>Sets where the log index, serving and HSM-reachable gauges read from (the pipeline).</summary>
    public void ObserveVault(Func<long> logIndex, Func<bool> serving, Func<bool> enclaveReachable)
    {
        _logIndex = logIndex ?? throw new ArgumentNullException(nameof(logIndex));
        _serving = serving ?? throw new ArgumentNullException(nameof(serving));
        _enclaveReachable = enclaveReachable ?? throw new ArgumentNullException(nameof(enclaveReachable));
    }

    public void ConnectionOpened() => Interlocked.Increment(ref _connections);

    public void ConnectionClosed() => Interlocked.Decrement(ref _connections);

    /// <summary>Counts a request. Which operation it is travels sealed in the channel: the host cannot tell.</summary>
    public void RequestReceived() => _requests.Add(1);

    /// <summary>Records the response and the time it took.</summary>
    public void ResponseSent(ClientResponse response, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.ResultCase == ClientResponse.ResultOneofCase.Error)
        {
            ErrorSent(response.Error.Code);
        }

        _latency.Record(elapsed.TotalMilliseconds);
    }

    /// <summary>Counts an Error response sent outside the request path (refused frames, busy).</summary>
    public void ErrorSent(ErrorCode code) => _errors.Add(1, new KeyValuePair<string, object?>("code", code.ToString()));


    public void BatchSent(int operations)
    {
        _batches.Add(1);
        _batchSize.Record(operations);
    }

    /// <summary>Starts a latency measurement.</summary>
    public static long Now() => Stopwatch.GetTimestamp();

    public void Dispose() => _meter.Dispose();
}

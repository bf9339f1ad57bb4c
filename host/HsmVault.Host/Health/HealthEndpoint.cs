using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using HsmVault.Host.Configuration;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HsmVault.Host.Health;

/// <summary>
/// A tiny HTTP/1.1 responder on loopback: <c>GET /health</c> returns the status (200 when
/// serving, 503 otherwise), enclave reachability, log index, record count and the metric
/// totals as JSON; <c>GET /metrics</c> returns the metric totals alone. No ASP.NET: it reads one
/// request line and closes the connection.
/// </summary>
public sealed partial class HealthEndpoint : IHostedService, IDisposable
{
    private const int MaxRequestBytes = 8 * 1024;

    private readonly HealthOptions _options;
    private readonly VaultPipeline _pipeline;
    private readonly HostMetrics _metrics;
    private readonly ILogger<HealthEndpoint> _logger;
    private readonly CancellationTokenSource _stop = new();
    private Socket? _socket;
    private Task? _loop;

    public HealthEndpoint(HealthOptions options, VaultPipeline pipeline, HostMetrics metrics, ILogger<HealthEndpoint> logger)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _pipeline = pipeline ?? throw new ArgumentNullException(nameof(pipeline));
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>Where the endpoint is bound, or null when disabled.</summary>
    public IPEndPoint? LocalEndPoint => _socket?.LocalEndPoint as IPEndPoint;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return Task.CompletedTask;
        }

        var endPoint = new IPEndPoint(IPAddress.Parse(_options.ListenAddress), _options.Port);
        _socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _socket.Bind(endPoint);
        _socket.Listen(16);
        LogListening(LocalEndPoint!.ToString());
        _loop = Task.Run(() => AcceptAsync(_socket), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _socket?.Dispose();
        _stop.Dispose();
    }

    /// <summary>The health document as JSON bytes, and whether the vault is serving.</summary>
    public (byte[] Json, bool Serving) HealthDocument()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("status", _pipeline.Status.ToString().ToLowerInvariant());
            json.WriteString("detail", _pipeline.StatusDetail);
            json.WriteBoolean("enclaveReachable", _pipeline.EnclaveReachable);
            json.WriteNumber("logIndex", _pipeline.StoreState.LogIndex);
            json.WriteNumber("records", _pipeline.StoreState.RecordCount);
            json.WriteNumber("inFlight", _pipeline.InFlight);
            json.WritePropertyName("metrics");
            WriteMetrics(json, _metrics.Snapshot());
            json.WriteEndObject();
        }

        return (buffer.ToArray(), _pipeline.Status == ServiceStatus.Serving);
    }

    private static void WriteMetrics(Utf8JsonWriter json, HostMetricsSnapshot metrics)
    {
        json.WriteStartObject();
        json.WriteString("meter", HostMetrics.MeterName);
        json.WriteNumber("requests", metrics.Requests);
        json.WriteStartObject("errorsByCode");
        foreach ((string code, long count) in metrics.ErrorsByCode)
        {
            json.WriteNumber(code, count);
        }

        json.WriteEndObject();
        json.WriteNumber("loginAttempts", metrics.LoginAttempts);
        json.WriteNumber("batches", metrics.Batches);
        json.WriteNumber("batchedOperations", metrics.BatchedOperations);
        json.WriteNumber("openConnections", metrics.OpenConnections);
        json.WriteNumber("records", metrics.Records);
        json.WriteStartObject("latency");
        json.WriteNumber("count", metrics.LatencyCount);
        json.WriteNumber("meanMs", Math.Round(metrics.LatencyMeanMs, 3));
        foreach ((string bucket, long count) in metrics.LatencyBuckets)
        {
            json.WriteNumber(bucket, count);
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    private async Task AcceptAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }

            // One request at a time is plenty for a loopback probe, and bounds what it can cost.
            await RespondAsync(client).ConfigureAwait(false);
        }
    }

    private async Task RespondAsync(Socket client)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            string? target = await ReadTargetAsync(stream, timeout.Token).ConfigureAwait(false);
            (int status, byte[] body) = target switch
            {
                "/health" or "/" => Health(),
                "/metrics" => (200, MetricsDocument()),
                null => (400, """{"error":"bad request"}"""u8.ToArray()),
                _ => (404, """{"error":"not found; try /health or /metrics"}"""u8.ToArray()),
            };
            string reason = status switch { 200 => "OK", 400 => "Bad Request", 404 => "Not Found", _ => "Service Unavailable" };
            byte[] head = Encoding.ASCII.GetBytes(
                $"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
            await stream.WriteAsync(head, timeout.Token).ConfigureAwait(false);
            await stream.WriteAsync(body, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // A probe that hung up or stalled; nothing to do.
        }
    }

    private (int Status, byte[] Body) Health()
    {
        (byte[] json, bool serving) = HealthDocument();
        return (serving ? 200 : 503, json);
    }

    private byte[] MetricsDocument()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            WriteMetrics(json, _metrics.Snapshot());
        }

        return buffer.ToArray();
    }

    // Reads up to the end of the request head and returns the target of a GET, or null.
    private static async Task<string?> ReadTargetAsync(Stream stream, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[MaxRequestBytes];
        int filled = 0;
        while (filled < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            filled += n;
            if (buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8) >= 0)
            {
                break;
            }
        }

        int lineEnd = buffer.AsSpan(0, filled).IndexOf("\r\n"u8);
        if (lineEnd < 0)
        {
            return null;
        }

        string[] parts = Encoding.ASCII.GetString(buffer, 0, lineEnd).Split(' ');
        if (parts.Length != 3 || parts[0] != "GET" || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return null;
        }

        int query = parts[1].IndexOf('?', StringComparison.Ordinal);
        return query < 0 ? parts[1] : parts[1][..query];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Health endpoint on http://{EndPoint}/health")]
    private partial void LogListening(string endPoint);
}

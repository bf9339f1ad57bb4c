using System.Net.Sockets;
using HsmVault.Host.Configuration;
using HsmVault.Protocol.Bridge;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;
using Microsoft.Extensions.Logging;

namespace HsmVault.Host.Bridge;

/// <summary>
/// The bridge to the HSM simulator (or any bridge process speaking the same protocol): framed
/// <see cref="EnclaveRequest"/>/<see cref="EnclaveResponse"/> over a Unix socket or TCP. One
/// connection, one request at a time; after any failure the connection is dropped and the next
/// request opens a new one.
/// </summary>
public sealed partial class SocketHsmBridge : IHsmBridge, IAsyncDisposable
{
    private readonly BridgeEndpoint _endpoint;
    private readonly HsmOptions _options;
    private readonly FrameCodec _codec;
    private readonly ILogger<SocketHsmBridge> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private NetworkStream? _stream;

    public SocketHsmBridge(HsmOptions options, ILogger<SocketHsmBridge> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _endpoint = BridgeEndpoint.Parse(options.Endpoint, "Hsm:Endpoint");
        _codec = new FrameCodec(options.MaxFrameBytes);
        _logger = logger;
    }

    /// <inheritdoc />
    public async Task<EnclaveResponse> SendAsync(EnclaveRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            NetworkStream stream = _stream ?? await ConnectAsync(cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.RequestTimeout);
            try
            {
                await _codec.WriteAsync(stream, request, timeout.Token).ConfigureAwait(false);
                EnclaveResponse? response = await _codec.ReadAsync(stream, EnclaveResponse.Parser, timeout.Token).ConfigureAwait(false);
                return response ?? throw Fail(new HsmUnavailableException($"HSM bridge {_endpoint.Display}: the connection closed before the response"));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw Fail(new HsmUnavailableException($"HSM bridge {_endpoint.Display}: no response within {_options.RequestTimeout}"));
            }
            catch (Exception ex) when (ex is IOException or SocketException or FrameFormatException or ObjectDisposedException)
            {
                throw Fail(new HsmUnavailableException($"HSM bridge {_endpoint.Display}: {ex.Message}", ex));
            }
            catch (OperationCanceledException)
            {
                // The caller gave up mid-exchange: the stream may hold a late response, so start afresh.
                Drop();
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            Drop();
        }
        finally
        {
            _gate.Release();
        }

        _gate.Dispose();
    }

    private async Task<NetworkStream> ConnectAsync(CancellationToken cancellationToken)
    {
        Socket socket = _endpoint.CreateSocket();
        if (socket.ProtocolType == ProtocolType.Tcp)
        {
            // Each request is one small frame and waits for its answer: send it at once.
            socket.NoDelay = true;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            await socket.ConnectAsync(_endpoint.EndPoint, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new HsmUnavailableException($"HSM bridge {_endpoint.Display}: cannot connect ({ex.Message})", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        LogConnected(_endpoint.Display);
        _stream = new NetworkStream(socket, ownsSocket: true);
        return _stream;
    }

    private HsmUnavailableException Fail(HsmUnavailableException reason)
    {
        Drop();
        return reason;
    }

    private void Drop()
    {
        _stream?.Dispose();
        _stream = null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to the HSM bridge at {Endpoint}")]
    private partial void LogConnected(string endpoint);
}

using System.Net.Sockets;
using HsmVault.Protocol.Bridge;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Simulator.Bridge;

/// <summary>
/// Serves one enclave over the bridge protocol: each connection sends length-prefixed
/// <see cref="EnclaveRequest"/> frames and gets one <see cref="EnclaveResponse"/> frame per request,
/// in order. The enclave is single-threaded, so requests from all connections are handled one at
/// a time. A frame that breaks the framing (truncated, oversized) gets a typed error and the
/// connection is closed, because the stream can no longer be trusted to be in step; the server
/// keeps serving everyone else.
/// </summary>
public sealed class BridgeServer
{
    private readonly Func<byte[], byte[]> _handle;
    private readonly BridgeEndpoint _endpoint;
    private readonly FrameCodec _codec;
    private readonly TextWriter _log;
    private readonly Lock _enclaveGate = new();

    public BridgeServer(Func<byte[], byte[]> handle, BridgeEndpoint endpoint, TextWriter log, int maxFrameBytes = FrameCodec.DefaultMaxFrameBytes)
    {
        _handle = handle ?? throw new ArgumentNullException(nameof(handle));
        _endpoint = endpoint ?? throw new ArgumentNullException(nameof(endpoint));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _codec = new FrameCodec(maxFrameBytes);
    }

    /// <summary>Requests handled since start, across all connections.</summary>
    public long RequestsHandled => Interlocked.Read(ref _requestsHandled);

    private long _requestsHandled;

    /// <summary>Binds, calls <paramref name="onListening"/>, and serves until <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(Action? onListening, CancellationToken cancellationToken)
    {
        if (_endpoint.UnixSocketPath is { } stale && File.Exists(stale))
        {
            // A socket file left by a previous run that did not shut down cleanly.
            File.Delete(stale);
        }

        using Socket listener = _endpoint.CreateSocket();
        listener.Bind(_endpoint.EndPoint);
        listener.Listen(64);
        onListening?.Invoke();

        List<Task> connections = [];
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                connections.RemoveAll(task => task.IsCompleted);
                connections.Add(ServeConnectionAsync(client, cancellationToken));
            }
        }
        finally
        {
            await Task.WhenAll(connections).ConfigureAwait(false);
            if (_endpoint.UnixSocketPath is { } socketPath)
            {
                File.Delete(socketPath);
            }
        }
    }

    private async Task ServeConnectionAsync(Socket socket, CancellationToken cancellationToken)
    {
        await using NetworkStream stream = new(socket, ownsSocket: true);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                byte[]? request;
                try
                {
                    request = await _codec.ReadPayloadAsync(stream, cancellationToken).ConfigureAwait(false);
                }
                catch (FrameFormatException ex)
                {
                    await _log.WriteLineAsync($"bridge: closing a connection after a bad frame: {ex.Message}").ConfigureAwait(false);
                    await WriteErrorAsync(stream, ex.Message, cancellationToken).ConfigureAwait(false);
                    return;
                }

                if (request is null)
                {
                    return;
                }

                byte[] response;
                lock (_enclaveGate)
                {
                    response = _handle(request);
                }

                Interlocked.Increment(ref _requestsHandled);
                await _codec.WritePayloadAsync(stream, response, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer went away or we are shutting down: nothing to answer.
        }
    }

    private async Task WriteErrorAsync(Stream stream, string message, CancellationToken cancellationToken)
    {
        EnclaveResponse error = new()
        {
            Error = new EnclaveError { Code = EnclaveErrorCode.MalformedRequest, Message = message },
        };
        try
        {
            await _codec.WriteAsync(stream, error, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
        {
            // Best effort: the peer may already be gone.
        }
    }
}

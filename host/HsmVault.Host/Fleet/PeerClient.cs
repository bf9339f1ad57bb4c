using System.Collections.Concurrent;
using System.Net.Sockets;
using HsmVault.Host.Bridge;
using HsmVault.Protocol.Bridge;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Fleet;

/// <summary>
/// This host's connections to one peer host: framed <see cref="PeerRequest"/>s, one answer each, over
/// a small pool of connections so a forwarded client request does not hold up a capture. Any failure
/// (refused, timed out, closed, unreadable) is an <see cref="HsmUnavailableException"/>: that member
/// counts as unreachable for this request, and the connection is dropped.
/// </summary>
public sealed class PeerClient : IAsyncDisposable
{
    private readonly BridgeEndpoint _endpoint;
    private readonly TimeSpan _timeout;
    private readonly FrameCodec _codec;
    private readonly ConcurrentBag<NetworkStream> _idle = [];

    public PeerClient(BridgeEndpoint endpoint, TimeSpan timeout, int maxFrameBytes)
    {
        _endpoint = endpoint ?? throw new ArgumentNullException(nameof(endpoint));
        _timeout = timeout;
        _codec = new FrameCodec(maxFrameBytes);
    }

    /// <summary>Where the peer listens.</summary>
    public string Display => _endpoint.Display;

    /// <summary>Sends <paramref name="request"/> to the peer's HSM through the peer's host.</summary>
    public async Task<EnclaveResponse> SendEnclaveAsync(EnclaveRequest request, CancellationToken cancellationToken)
    {
        PeerResponse response = await ExchangeAsync(new PeerRequest { Enclave = request }, _timeout, cancellationToken).ConfigureAwait(false);
        return response.Enclave ?? throw new HsmUnavailableException($"peer {Display}: answered an HSM request with {response.KindCase}");
    }

    /// <summary>Forwards a client request to the peer (the leader's host) and returns its answer.</summary>
    public async Task<ClientResponse> ForwardAsync(ClientRequest request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        PeerResponse response = await ExchangeAsync(new PeerRequest { Forward = request }, timeout, cancellationToken).ConfigureAwait(false);
        return response.Forward ?? throw new HsmUnavailableException($"peer {Display}: answered a forwarded request with {response.KindCase}");
    }

    private async Task<PeerResponse> ExchangeAsync(PeerRequest request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        NetworkStream? stream = null;
        try
        {
            stream = _idle.TryTake(out NetworkStream? pooled) ? pooled : await ConnectAsync(deadline.Token).ConfigureAwait(false);
            await _codec.WriteAsync(stream, request, deadline.Token).ConfigureAwait(false);
            PeerResponse response = await _codec.ReadAsync(stream, PeerResponse.Parser, deadline.Token).ConfigureAwait(false)
                ?? throw new IOException("the connection closed before the answer");
            _idle.Add(stream);
            stream = null;
            return response;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HsmUnavailableException($"peer {Display}: no answer within {timeout}");
        }
        catch (Exception ex) when (ex is IOException or SocketException or FrameFormatException or ObjectDisposedException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new HsmUnavailableException($"peer {Display}: {ex.Message}", ex);
        }
        finally
        {
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task<NetworkStream> ConnectAsync(CancellationToken cancellationToken)
    {
        Socket socket = _endpoint.CreateSocket();
        if (socket.ProtocolType == ProtocolType.Tcp)
        {
            socket.NoDelay = true;
        }

        try
        {
            await socket.ConnectAsync(_endpoint.EndPoint, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new NetworkStream(socket, ownsSocket: true);
    }

    public async ValueTask DisposeAsync()
    {
        while (_idle.TryTake(out NetworkStream? stream))
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }
}

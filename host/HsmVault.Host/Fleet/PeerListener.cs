using System.Collections.Concurrent;
using System.Net.Sockets;
using HsmVault.Protocol.Bridge;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HsmVault.Host.Fleet;

/// <summary>
/// Serves the other hosts of the fleet on this host's peer endpoint: framed <see cref="PeerRequest"/>s,
/// one <see cref="PeerResponse"/> each, in order per connection, connections in parallel. A frame that
/// breaks the framing or does not parse closes that connection only. Peers are not trusted; what
/// they may ask is decided by <see cref="FleetPipeline.HandlePeerAsync"/>.
/// </summary>
public sealed partial class PeerListener : IHostedService, IDisposable
{
    private readonly FleetPipeline _fleet;
    private readonly BridgeEndpoint _endpoint;
    private readonly FrameCodec _codec;
    private readonly ILogger<PeerListener> _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private Socket? _socket;
    private Task? _accept;
    private long _next;
    private int _disposed;

    public PeerListener(FleetPipeline fleet, FleetOptions options, Configuration.HsmOptions hsm, ILogger<PeerListener> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _fleet = fleet ?? throw new ArgumentNullException(nameof(fleet));
        _endpoint = BridgeEndpoint.ParseListener(options.PeerEndpoints()[options.Self].Display, "Fleet:Peers[Fleet:Self]");
        _codec = new FrameCodec(hsm.MaxFrameBytes + 1024);
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Socket socket = _endpoint.CreateSocket();
        try
        {
            socket.Bind(_endpoint.EndPoint);
            socket.Listen(64);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new HostStartException($"Fleet:Peers[Fleet:Self]: cannot listen for peer hosts on {_endpoint.Display} ({ex.Message})", ex);
        }

        _socket = socket;
        LogListening(_endpoint.Display);
        _accept = Task.Run(AcceptAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        if (_accept is not null)
        {
            await _accept.ConfigureAwait(false);
        }

        await Task.WhenAll(_connections.Values).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        // The container disposes it once as the listener and once as a hosted service.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        _socket?.Dispose();
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket!.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            long id = Interlocked.Increment(ref _next);
            _connections[id] = Task.Run(async () =>
            {
                try
                {
                    await ServeAsync(client).ConfigureAwait(false);
                }
                finally
                {
                    _connections.TryRemove(id, out _);
                }
            });
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        socket.NoDelay = socket.ProtocolType == ProtocolType.Tcp;
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                PeerRequest? request = await _codec.ReadAsync(stream, PeerRequest.Parser, _stop.Token).ConfigureAwait(false);
                if (request is null)
                {
                    return;
                }

                PeerResponse response = await _fleet.HandlePeerAsync(request, _stop.Token).ConfigureAwait(false);
                await _codec.WriteAsync(stream, response, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or FrameFormatException or OperationCanceledException or Google.Protobuf.InvalidProtocolBufferException)
        {
            // That peer's connection only; it reconnects.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for peer hosts on {Endpoint}")]
    private partial void LogListening(string endpoint);
}

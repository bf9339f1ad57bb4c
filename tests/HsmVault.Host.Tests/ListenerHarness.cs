using System.Net.Sockets;
using HsmVault.Host.Configuration;
using HsmVault.Host.Listener;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Telemetry;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace HsmVault.Host.Tests;

/// <summary>A started <see cref="ClientListener"/> on a free loopback port over a given request handler.</summary>
internal sealed class ListenerHarness : IAsyncDisposable
{
    private ListenerHarness(ClientListenerOptions options, IClientRequestHandler handler)
    {
        Metrics = new HostMetrics();
        Listener = new ClientListener(options, handler, Metrics, NullLogger<ClientListener>.Instance);
    }

    public ClientListener Listener { get; }

    public HostMetrics Metrics { get; }

    public int Port => Listener.LocalEndPoint!.Port;

    public static ClientListenerOptions Options() => new() { Port = 0, MaxFrameBytes = 1024, ReadTimeout = TimeSpan.FromSeconds(2), IdleTimeout = TimeSpan.FromSeconds(5) };

    public static async Task<ListenerHarness> StartAsync(IClientRequestHandler handler, ClientListenerOptions? options = null)
    {
        var harness = new ListenerHarness(options ?? Options(), handler);
        await harness.Listener.StartAsync(CancellationToken.None);
        return harness;
    }

    public async Task<TcpClient> ConnectAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", Port);
        return client;
    }

    /// <summary>Sends one request on a new connection and returns the response.</summary>
    public Task<ClientResponse> RoundTripAsync(ClientRequest request) => ExchangeAsync(Port, request);

    /// <summary>One request over a fresh loopback connection to the client listener on <paramref name="port"/>, and its answer.</summary>
    public static async Task<ClientResponse> ExchangeAsync(int port, ClientRequest request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        NetworkStream stream = client.GetStream();
        await new FrameCodec().WriteAsync(stream, request);
        return (await ReadResponseAsync(stream))!;
    }

    public static async Task<ClientResponse?> ReadResponseAsync(Stream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await new FrameCodec().ReadAsync(stream, ClientResponse.Parser, timeout.Token);
    }

    /// <summary>True when the server closed the connection (read returns 0 or the connection resets).</summary>
    public static async Task<bool> IsClosedByServerAsync(Stream stream, TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            byte[] buffer = new byte[1];
            return await stream.ReadAsync(buffer, timeout.Token) == 0;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Listener.StopAsync(timeout.Token);
        Listener.Dispose();
        Metrics.Dispose();
    }
}

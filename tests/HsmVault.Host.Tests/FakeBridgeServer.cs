using System.Collections.Concurrent;
using System.Net.Sockets;
using HsmVault.Host.Bridge;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>
/// A bridge process stand-in: serves framed enclave requests on a Unix socket from a fake enclave,
/// so the host's real <see cref="SocketHsmBridge"/> talks to it. <see cref="Kill"/> closes the
/// socket and every connection at once, as a killed simulator would.
/// </summary>
internal sealed class FakeBridgeServer : IAsyncDisposable
{
    private readonly IHsmBridge _enclave;
    private readonly Socket _listener;
    private readonly ConcurrentBag<Socket> _connections = [];
    private readonly Task _accepting;

    public FakeBridgeServer(string socketPath, IHsmBridge enclave)
    {
        SocketPath = socketPath;
        _enclave = enclave;
        File.Delete(socketPath);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen(8);
        _accepting = Task.Run(AcceptAsync);
    }

    public string SocketPath { get; }

    /// <summary>Closes the listening socket and all connections, and removes the socket file.</summary>
    public void Kill()
    {
        _listener.Dispose();
        foreach (Socket connection in _connections)
        {
            connection.Dispose();
        }

        File.Delete(SocketPath);
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await _accepting;
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return;
            }

            _connections.Add(connection);
            _ = Task.Run(() => ServeAsync(connection));
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        var codec = new FrameCodec();
        try
        {
            await using var stream = new NetworkStream(connection, ownsSocket: true);
            while (await codec.ReadAsync(stream, EnclaveRequest.Parser) is { } request)
            {
                EnclaveResponse response = await _enclave.SendAsync(request, CancellationToken.None);
                await codec.WriteAsync(stream, response);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or HsmUnavailableException)
        {
            // The connection was killed, or the fake is down: the host sees the connection drop.
        }
    }
}

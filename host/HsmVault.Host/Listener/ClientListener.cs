using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using HsmVault.Host.Configuration;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Telemetry;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HsmVault.Host.Listener;

/// <summary>
/// Accepts client connections (TCP, TLS when a certificate is configured) and serves framed
/// <see cref="ClientRequest"/>s one at a time per connection. Every refusal is a typed Error
/// frame: BAD_REQUEST for an unparsable or timed-out frame, TOO_LARGE for an oversized one,
/// BUSY above the connection limit. A misbehaving client only ever loses its own connection.
/// Request bytes are never logged.
/// </summary>
public sealed partial class ClientListener : IHostedService, IDisposable
{
    private readonly ClientListenerOptions _options;
    private readonly IClientRequestHandler _handler;
    private readonly HostMetrics _metrics;
    private readonly ILogger<ClientListener> _logger;
    private readonly FrameCodec _writer;
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly CancellationTokenSource _stopReading = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private X509Certificate2? _certificate;
    private Socket? _socket;
    private Task? _acceptLoop;
    private long _nextConnection;
    private int _open;

    public ClientListener(ClientListenerOptions options, IClientRequestHandler handler, HostMetrics metrics, ILogger<ClientListener> logger)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _handler = handler ?? throw new ArgumentNullException(nameof(handler));
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _writer = new FrameCodec(Math.Max(options.MaxFrameBytes, FrameCodec.DefaultMaxFrameBytes));
    }

    /// <summary>Where the listener is bound (the real port when configured with port 0).</summary>
    public IPEndPoint? LocalEndPoint => _socket?.LocalEndPoint as IPEndPoint;

    /// <summary>Open client connections.</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.TlsCertificatePath is { Length: > 0 } path)
        {
            try
            {
                _certificate = LoadCertificate(path, _options.TlsKeyPath, _options.TlsCertificatePassword);
            }
            catch (CryptographicException ex)
            {
                // The message says what failed (wrong password, no key, not a certificate); never the password itself.
                throw new HostStartException($"Host:TlsCertificatePath: cannot load {path}: {ex.Message}", ex);
            }
        }

        var endPoint = new IPEndPoint(IPAddress.Parse(_options.ListenAddress), _options.Port);
        _socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _socket.Bind(endPoint);
            _socket.Listen(512);
        }
        catch (SocketException ex)
        {
            _socket.Dispose();
            _socket = null;
            string why = ex.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "the address is already in use (another process listens there; stop it or choose another Host:Port)",
                SocketError.AddressNotAvailable => "that IP address is not on this machine (check Host:ListenAddress)",
                SocketError.AccessDenied => "permission denied (ports below 1024 need privileges)",
                _ => ex.Message,
            };
            throw new HostStartException($"Host:Port: cannot listen on {endPoint}: {why}", ex);
        }

        LogListening(LocalEndPoint!.ToString(), _certificate is null ? "plain TCP" : "TLS");
        _acceptLoop = Task.Run(() => AcceptAsync(_socket), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops accepting, lets each connection finish the request it is on, then closes them.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopAccepting.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        await _stopReading.CancelAsync().ConfigureAwait(false);
        LogDraining(_connections.Count);
        try
        {
            await Task.WhenAll(_connections.Values).WaitAsync(_options.DrainTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            await _abort.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(_connections.Values).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _socket?.Dispose();
        _certificate?.Dispose();
        _stopAccepting.Dispose();
        _stopReading.Dispose();
        _abort.Dispose();
    }

    /// <summary>Loads a PFX/PKCS#12 file, or a PEM certificate with its key (in the same file or <paramref name="keyPath"/>).</summary>
    public static X509Certificate2 LoadCertificate(string path, string? keyPath, string? password)
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is ".pfx" or ".p12")
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, password);
        }

        return string.IsNullOrEmpty(password)
            ? X509Certificate2.CreateFromPemFile(path, keyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);
    }

    private async Task AcceptAsync(Socket listener)
    {
        while (!_stopAccepting.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopAccepting.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // e.g. the peer reset before accept completed; the listener itself is fine.
                LogAcceptFailed(ex.SocketErrorCode);
                continue;
            }

            client.NoDelay = true;
            long id = Interlocked.Increment(ref _nextConnection);
            bool admitted = Interlocked.Increment(ref _open) <= _options.MaxConnections;
            if (!admitted)
            {
                Interlocked.Decrement(ref _open);
            }

            Task connection = Task.Run(() => admitted ? ServeAsync(client) : RefuseAsync(client), CancellationToken.None);
            _connections[id] = connection;
            _ = connection.ContinueWith(_ => _connections.TryRemove(id, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task RefuseAsync(Socket socket)
    {
        _metrics.ErrorSent(ErrorCode.Busy);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token);
        timeout.CancelAfter(_options.WriteTimeout);
        try
        {
            await using Stream stream = await OpenStreamAsync(socket, timeout.Token).ConfigureAwait(false);
            await _writer.WriteAsync(stream, ClientErrors.Create(0, ErrorCode.Busy, "too many connections; retry later"), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            // Best effort: the client may have gone already.
        }
        finally
        {
            socket.Dispose();
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        _metrics.ConnectionOpened();
        try
        {
            Stream stream;
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token))
            {
                handshake.CancelAfter(_options.ReadTimeout);
                stream = await OpenStreamAsync(socket, handshake.Token).ConfigureAwait(false);
            }

            await using (stream.ConfigureAwait(false))
            {
                await ServeFramesAsync(stream).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            // The client went away, failed the TLS handshake, or the host is stopping.
        }
        catch (Exception ex)
        {
            LogConnectionFailed(ex);
        }
        finally
        {
            socket.Dispose();
            Interlocked.Decrement(ref _open);
            _metrics.ConnectionClosed();
        }
    }

    private async Task ServeFramesAsync(Stream stream)
    {
        var reader = new ClientFrameReader(stream, _options.MaxFrameBytes, _options.IdleTimeout, _options.ReadTimeout);
        while (!_stopReading.IsCancellationRequested)
        {
            (FrameReadOutcome outcome, byte[]? payload, long announced) = await reader.ReadAsync(_stopReading.Token, _abort.Token).ConfigureAwait(false);
            switch (outcome)
            {
                case FrameReadOutcome.Closed or FrameReadOutcome.Idle:
                    return;
                case FrameReadOutcome.TooLarge:
                    // The rest of the stream cannot be trusted to be in step: answer and close.
                    await RefuseFrameAsync(stream, ErrorCode.TooLarge, $"frame: {announced} bytes announced, at most {_options.MaxFrameBytes}").ConfigureAwait(false);
                    return;
                case FrameReadOutcome.Incomplete:
                    await RefuseFrameAsync(stream, ErrorCode.BadRequest, $"frame: incomplete after {_options.ReadTimeout}").ConfigureAwait(false);
                    return;
            }

            ClientRequest request;
            try
            {
                request = ClientRequest.Parser.ParseFrom(payload);
            }
            catch (InvalidProtocolBufferException)
            {
                // The frame boundary is intact, so the connection can carry on.
                await RefuseFrameAsync(stream, ErrorCode.BadRequest, "frame: not a valid ClientRequest").ConfigureAwait(false);
                continue;
            }

            ClientResponse response = await _handler.SubmitAsync(request).ConfigureAwait(false);
            await WriteAsync(stream, response).ConfigureAwait(false);
        }
    }

    private async Task RefuseFrameAsync(Stream stream, ErrorCode code, string message)
    {
        _metrics.ErrorSent(code);
        await WriteAsync(stream, ClientErrors.Create(0, code, message, "frame")).ConfigureAwait(false);
    }

    private async Task WriteAsync(Stream stream, ClientResponse response)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token);
        timeout.CancelAfter(_options.WriteTimeout);
        await _writer.WriteAsync(stream, response, timeout.Token).ConfigureAwait(false);
    }

    private async Task<Stream> OpenStreamAsync(Socket socket, CancellationToken cancellationToken)
    {
        var network = new NetworkStream(socket, ownsSocket: false);
        if (_certificate is null)
        {
            return network;
        }

        var tls = new SslStream(network, leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions
                {
                    ServerCertificate = _certificate,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    ClientCertificateRequired = false,
                },
                cancellationToken).ConfigureAwait(false);
            return tls;
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static bool IsConnectionFailure(Exception ex) =>
        ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException or AuthenticationException;

    [LoggerMessage(Level = LogLevel.Information, Message = "Client listener on {EndPoint} ({Transport})")]
    private partial void LogListening(string endPoint, string transport);

    [LoggerMessage(Level = LogLevel.Information, Message = "Client listener stopped; draining {Connections} connections")]
    private partial void LogDraining(int connections);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Accept failed: {Error}")]
    private partial void LogAcceptFailed(SocketError error);

    [LoggerMessage(Level = LogLevel.Error, Message = "A client connection failed unexpectedly")]
    private partial void LogConnectionFailed(Exception exception);
}

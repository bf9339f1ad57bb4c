using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Client;

/// <summary>
/// One TCP (optionally TLS) connection to a vault host carrying length-prefixed
/// ClientRequest/ClientResponse frames, one request at a time. The hosts are tried in order from
/// the preferred one until one connects (<see cref="VaultClientOptions.FailoverHosts"/>); a request
/// is sent over one connection only, never resent. Any transport failure closes the connection and
/// makes the next host the preferred one; the next request reconnects.
/// </summary>
internal sealed class VaultConnection : IAsyncDisposable
{
    private readonly VaultClientOptions _options;
    private readonly VaultHostAddress[] _hosts;
    private readonly FrameCodec _codec = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private TcpClient? _tcp;
    private FirstBytesStream? _stream;
    private long _connections;
    private bool _answered;
    private ulong _nextRequestId = (ulong)Random.Shared.NextInt64(1, long.MaxValue);

    // The host tried first, and the host of the open connection.
    private int _preferred;
    private int _connected = -1;

    public VaultConnection(VaultClientOptions options)
    {
        _options = options;
        _hosts = [new VaultHostAddress(options.Host, options.Port), .. options.FailoverHosts];
    }

    /// <summary>Counts the connections opened so far; 0 while none is open.</summary>
    public long OpenConnection => _stream is null ? 0 : _connections;

    /// <summary>The host of the open connection, or null.</summary>
    public VaultHostAddress? ConnectedHost => _stream is null ? null : _hosts[_connected];

    public async Task<ClientResponse> ExchangeAsync(ClientRequest request, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_stream is not null && PeerHasClosed())
            {
                // The host closed this idle connection (it restarted, or timed the connection out):
                // nothing has been sent on it, so open another, failing over if the host is gone.
                Close(moveOn: false);
            }

            FirstBytesStream stream = _stream ?? await ConnectAsync(cancellationToken).ConfigureAwait(false);
            VaultHostAddress host = _hosts[_connected];
            request.RequestId = _nextRequestId++;
            _options.Progress?.Report(VaultProgress.WaitingForVault);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.RequestTimeout);
            ClientResponse? response;
            try
            {
                await _codec.WriteAsync(stream, request, timeout.Token).ConfigureAwait(false);
                response = await _codec.ReadAsync(stream, ClientResponse.Parser, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                Close(moveOn: true);
                throw new VaultUnreachableException($"no answer from {host} within {_options.RequestTimeout.TotalSeconds:0.#} s", ex);
            }
            catch (FrameFormatException ex)
            {
                Close(moveOn: true);
                throw new VaultProtocolException(DescribeFrameError(stream, host, ex), ex);
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
                Close(moveOn: true);
                throw new VaultUnreachableException($"connection to {host} lost: {ex.Message}", ex);
            }

            if (response is null)
            {
                // A hang-up before the first answer on a connection is what a web server (the host's
                // health port, say) does with a frame: name the likely mistake.
                string hint = _answered ? string.Empty : $" ({host} sent nothing back at all: is it the vault's client port, default {VaultClientOptions.DefaultPort}?)";
                Close(moveOn: true);
                throw new VaultUnreachableException($"the vault host closed the connection without answering{hint}");
            }

            _answered = true;

            if (response.RequestId != request.RequestId)
            {
                Close(moveOn: true);
                throw new VaultProtocolException($"response.request_id: {response.RequestId}, expected {request.RequestId}");
            }

            return response;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Drops the connection after an answer that did not come from the fleet: nothing more is sent
    /// over it. The next exchange opens a new one, at the next host when there are several.
    /// </summary>
    public void Abandon() => Close(moveOn: true);

    /// <summary>
    /// After the host answered that it cannot serve (UNAVAILABLE, BUSY, INTERNAL in the clear): with
    /// more than one host, drop the connection so that the next request starts at the next host.
    /// </summary>
    public void PreferNextHost()
    {
        if (_hosts.Length > 1)
        {
            Close(moveOn: true);
        }
    }

    public ValueTask DisposeAsync()
    {
        Close(moveOn: false);
        _gate.Dispose();
        return ValueTask.CompletedTask;
    }

    // Pointing the client at a web port (the host's health port, a proxy) is an easy mistake; its
    // "HTTP/1.1 400" reads as an absurd length prefix. Say what answered instead.
    private static string DescribeFrameError(FirstBytesStream stream, VaultHostAddress host, FrameFormatException error) =>
        stream.First.StartsWith("HTTP"u8)
            ? $"the endpoint {host} answered with HTTP, not the vault's protocol: is it the vault's client port (default {VaultClientOptions.DefaultPort})?"
            : error.Message;

    // Tries every host once, from the preferred one; the first that connects is kept.
    private async Task<FirstBytesStream> ConnectAsync(CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        VaultUnreachableException? last = null;
        for (int i = 0; i < _hosts.Length; i++)
        {
            int index = (_preferred + i) % _hosts.Length;
            if (i > 0)
            {
                _options.Progress?.Report(VaultProgress.FailingOver);
            }

            try
            {
                FirstBytesStream stream = await ConnectToAsync(_hosts[index], cancellationToken).ConfigureAwait(false);
                _connected = index;
                _preferred = index;
                return stream;
            }
            catch (VaultUnreachableException ex)
            {
                failures.Add(ex.Message);
                last = ex;
            }
        }

        throw _hosts.Length == 1
            ? last!
            : new VaultUnreachableException($"none of the {_hosts.Length} vault hosts could be reached: {string.Join("; ", failures)}", last);
    }

    // An idle connection whose socket reads as ready with nothing to read: the host closed it.
    private bool PeerHasClosed()
    {
        try
        {
            Socket socket = _tcp!.Client;
            return socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return true;
        }
    }

    private async Task<FirstBytesStream> ConnectToAsync(VaultHostAddress host, CancellationToken cancellationToken)
    {
        _options.Progress?.Report(VaultProgress.Connecting);
        string where = host.ToString();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(host.Host, host.Port, timeout.Token).ConfigureAwait(false);
            Stream stream = tcp.GetStream();
            if (_options.UseTls)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false, ValidateCertificate);
                await tls.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions { TargetHost = _options.TlsServerName ?? host.Host },
                    timeout.Token).ConfigureAwait(false);
                stream = tls;
            }

            var recorded = new FirstBytesStream(stream);
            _answered = false;
            _tcp = tcp;
            _stream = recorded;
            _connections++;
            return recorded;
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            tcp.Dispose();
            throw new VaultUnreachableException($"connecting to {where} took longer than {_options.ConnectTimeout.TotalSeconds:0.#} s", ex);
        }
        catch (SocketException ex)
        {
            tcp.Dispose();
            throw new VaultUnreachableException($"cannot connect to {where}: {ex.SocketErrorCode}", ex);
        }
        catch (AuthenticationException ex)
        {
            tcp.Dispose();
            throw new VaultUnreachableException($"TLS handshake with {where} failed: {ex.Message}", ex);
        }
        catch (IOException ex)
        {
            tcp.Dispose();
            throw new VaultUnreachableException($"connection to {where} failed: {ex.Message}", ex);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    private bool ValidateCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_options.TlsTrustedCertificate is not { } trusted)
        {
            return errors == SslPolicyErrors.None;
        }

        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var presented = new X509Certificate2(certificate);
        if (presented.RawDataMemory.Span.SequenceEqual(trusted.RawDataMemory.Span))
        {
            return true;
        }

        // Private CA: build the chain against the configured root only.
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(trusted);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return custom.Build(presented);
    }

    private void Close(bool moveOn)
    {
        if (moveOn && _stream is not null)
        {
            _preferred = (_connected + 1) % _hosts.Length;
        }

        _stream?.Dispose();
        _tcp?.Dispose();
        _stream = null;
        _tcp = null;
    }
}

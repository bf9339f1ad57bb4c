using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Client;

/// <summary>
/// One TCP (optionally TLS) connection to the vault host carrying length-prefixed
/// ClientRequest/ClientResponse frames, one request at a time. Any transport failure closes it;
/// the next request reconnects.
/// </summary>
internal sealed class VaultConnection : IAsyncDisposable
{
    private readonly VaultClientOptions _options;
    private readonly FrameCodec _codec = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private TcpClient? _tcp;
    private FirstBytesStream? _stream;
    private long _connections;
    private bool _answered;
    private ulong _nextRequestId = (ulong)Random.Shared.NextInt64(1, long.MaxValue);

    public VaultConnection(VaultClientOptions options) => _options = options;

    /// <summary>Counts the connections opened so far; 0 while none is open.</summary>
    public long OpenConnection => _stream is null ? 0 : _connections;

    public async Task<ClientResponse> ExchangeAsync(ClientRequest request, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            FirstBytesStream stream = _stream ?? await ConnectAsync(cancellationToken).ConfigureAwait(false);
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
                Close();
                throw new VaultUnreachableException($"no answer within {_options.RequestTimeout.TotalSeconds:0.#} s", ex);
            }
            catch (FrameFormatException ex)
            {
                Close();
                throw new VaultProtocolException(DescribeFrameError(stream, ex), ex);
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
                Close();
                throw new VaultUnreachableException($"connection lost: {ex.Message}", ex);
            }

            if (response is null)
            {
                // A hang-up before the first answer on a connection is what a web server (the host's
                // health port, say) does with a frame: name the likely mistake.
                string hint = _answered ? string.Empty : $" ({_options.Host}:{_options.Port} sent nothing back at all: is it the vault's client port, default {VaultClientOptions.DefaultPort}?)";
                Close();
                throw new VaultUnreachableException($"the vault host closed the connection without answering{hint}");
            }

            _answered = true;

            if (response.RequestId != request.RequestId)
            {
                Close();
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
    /// over it. The next exchange opens a new one.
    /// </summary>
    public void Abandon() => Close();

    public ValueTask DisposeAsync()
    {
        Close();
        _gate.Dispose();
        return ValueTask.CompletedTask;
    }

    // Pointing the client at a web port (the host's health port, a proxy) is an easy mistake; its
    // "HTTP/1.1 400" reads as an absurd length prefix. Say what answered instead.
    private string DescribeFrameError(FirstBytesStream stream, FrameFormatException error) =>
        stream.First.StartsWith("HTTP"u8)
            ? $"the endpoint {_options.Host}:{_options.Port} answered with HTTP, not the vault's protocol: is it the vault's client port (default {VaultClientOptions.DefaultPort})?"
            : error.Message;

    private async Task<FirstBytesStream> ConnectAsync(CancellationToken cancellationToken)
    {
        _options.Progress?.Report(VaultProgress.Connecting);
        string where = $"{_options.Host}:{_options.Port}";
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(_options.Host, _options.Port, timeout.Token).ConfigureAwait(false);
            Stream stream = tcp.GetStream();
            if (_options.UseTls)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false, ValidateCertificate);
                await tls.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions { TargetHost = _options.TlsServerName ?? _options.Host },
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

    private void Close()
    {
        _stream?.Dispose();
        _tcp?.Dispose();
        _stream = null;
        _tcp = null;
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Client.Tests;

/// <summary>
/// A test-only vault on loopback TCP speaking the real client frames, backed by the real
/// <see cref="OpaqueServer"/> with software keys. It counts a guess at LoginStart and destroys a
/// record at the limit, as the enclave does; <see cref="Intercept"/> lets a test answer any
/// request itself (to inject errors) and <see cref="TamperRecovered"/> flips a bit in Recovered.
/// </summary>
internal sealed class FakeVault : IAsyncDisposable
{
    public const string Context = "HsmVault-v1";

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly OpaqueServer _opaque;
    private readonly byte[] _fakeSeed = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, StoredUser> _users = new();
    private readonly ConcurrentDictionary<string, PendingLogin> _logins = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly FrameCodec _codec = new();
    private readonly Task _acceptLoop;

    private readonly X509Certificate2? _tlsCertificate;

    public FakeVault(int attemptLimit = 10, byte[]? akeSeed = null, X509Certificate2? tlsCertificate = null)
    {
        AttemptLimit = attemptLimit;
        _tlsCertificate = tlsCertificate;
        var ake = SoftwareAkeKey.Derive(akeSeed ?? RandomNumberGenerator.GetBytes(32));
        PublicKey = ake.PublicKey;
        _opaque = new OpaqueServer(
            OpaqueConfiguration.ForTesting(Encoding.UTF8.GetBytes(Context)),
            ake,
            new SoftwareOprfSeed(RandomNumberGenerator.GetBytes(32)),
            SystemRandomSource.Instance);
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public int AttemptLimit { get; }

    public byte[] PublicKey { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public int RegisterFinishCount;

    public int LoginStartCount;

    public Func<ClientRequest, ClientResponse?>? Intercept { get; set; }

    public bool TamperRecovered { get; set; }

    public uint? AttemptsUsed(string user) => _users.TryGetValue(user, out var stored) ? stored.AttemptsUsed : null;

    public byte[]? StoredBlob(string user) => _users.TryGetValue(user, out var stored) ? stored.Blob : null;

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            Stream stream = client.GetStream();
            try
            {
                if (_tlsCertificate is not null)
                {
                    var tls = new SslStream(stream);
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _tlsCertificate }, _stop.Token).ConfigureAwait(false);
                    stream = tls;
                }

                while (await _codec.ReadAsync(stream, ClientRequest.Parser, _stop.Token).ConfigureAwait(false) is { } request)
                {
                    ClientResponse response = Intercept?.Invoke(request) ?? Handle(request);
                    response.RequestId = request.RequestId;
                    await _codec.WriteAsync(stream, response, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or FrameFormatException or AuthenticationException)
            {
            }
        }
    }

    private ClientResponse Handle(ClientRequest request) => request.OperationCase switch
    {
        ClientRequest.OperationOneofCase.RegisterStart => RegisterStart(request.RegisterStart),
        ClientRequest.OperationOneofCase.RegisterFinish => RegisterFinish(request.RegisterFinish),
        ClientRequest.OperationOneofCase.LoginStart => LoginStart(request.LoginStart),
        ClientRequest.OperationOneofCase.LoginFinish => LoginFinish(request.LoginFinish),
        ClientRequest.OperationOneofCase.Status => Status(request.Status),
        _ => ErrorResponse(ErrorCode.BadRequest, "operation", 0),
    };

    private ClientResponse RegisterStart(RegisterStart start)
    {
        byte[] response = _opaque.CreateRegistrationResponse(start.RegistrationRequest.Span, start.UserId.Span);
        return new ClientResponse
        {
            RegisterStarted = new RegisterStarted { RegistrationResponse = ByteString.CopyFrom(response), RegistrationSession = ByteString.CopyFromUtf8("session") },
        };
    }

    private ClientResponse RegisterFinish(RegisterFinish finish)
    {
        Interlocked.Increment(ref RegisterFinishCount);
        RegistrationRecord.Parse(finish.RegistrationRecord.Span);
        _users[finish.UserId.ToStringUtf8()] = new StoredUser(finish.RegistrationRecord.ToByteArray(), finish.EncryptedKeyBlob.ToByteArray());
        return new ClientResponse { Registered = new Registered() };
    }

    private ClientResponse LoginStart(LoginStart start)
    {
        Interlocked.Increment(ref LoginStartCount);
        string user = start.UserId.ToStringUtf8();
        byte[] ke2;
        ServerLoginState state;
        bool fake = !_users.TryGetValue(user, out StoredUser? stored);
        if (stored is not null)
        {
            stored.AttemptsUsed++;
            ke2 = _opaque.GenerateKE2(start.Ke1.Span, RegistrationRecord.Parse(stored.Record), start.UserId.Span, PublicKey, start.UserId.Span, out state);
        }
        else
        {
            byte[] seed = HMACSHA256.HashData(_fakeSeed, start.UserId.Span);
            ke2 = _opaque.GenerateKE2(start.Ke1.Span, RegistrationRecord.CreateFake(seed), start.UserId.Span, PublicKey, start.UserId.Span, out state);
        }

        string session = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        _logins[session] = new PendingLogin(user, fake, state);
        return new ClientResponse { LoginStarted = new LoginStarted { Ke2 = ByteString.CopyFrom(ke2), LoginSession = ByteString.CopyFromUtf8(session) } };
    }

    private ClientResponse LoginFinish(LoginFinish finish)
    {
        if (!_logins.TryRemove(finish.LoginSession.ToStringUtf8(), out PendingLogin? login) || login.User != finish.UserId.ToStringUtf8())
        {
            return ErrorResponse(ErrorCode.BadRequest, "login_finish.login_session", 0);
        }

        if (login.Fake || !_users.TryGetValue(login.User, out StoredUser? stored))
        {
            return ErrorResponse(ErrorCode.AuthFailed, "login_finish.ke3", 0);
        }

        byte[] sessionKey;
        try
        {
            sessionKey = _opaque.ServerFinish(login.State, finish.Ke3.Span);
        }
        catch (OpaqueAuthenticationException)
        {
            uint left = (uint)Math.Max(0, AttemptLimit - (int)stored.AttemptsUsed);
            if (left == 0)
            {
                _users.TryRemove(login.User, out _);
            }

            return ErrorResponse(ErrorCode.AuthFailed, "login_finish.ke3", left);
        }

        if (finish.Action == LoginAction.Delete)
        {
            _users.TryRemove(login.User, out _);
            return new ClientResponse { Deleted = new Deleted() };
        }

        stored.AttemptsUsed = 0;
        byte[] sealedBlob = RecoveredBlobCipher.Seal(sessionKey, finish.UserId.Span, stored.Blob);
        if (TamperRecovered)
        {
            sealedBlob[0] ^= 0x01;
        }

        return new ClientResponse { Recovered = new Recovered { SealedKeyBlob = ByteString.CopyFrom(sealedBlob) } };
    }

    private ClientResponse Status(StatusQuery query) =>
        _users.TryGetValue(query.UserId.ToStringUtf8(), out StoredUser? stored)
            ? new ClientResponse { Status = new StatusReport { AttemptsLeft = (uint)AttemptLimit - stored.AttemptsUsed, AttemptLimit = (uint)AttemptLimit } }
            : ErrorResponse(ErrorCode.NotRegistered, "status.user_id", 0);

    public static ClientResponse ErrorResponse(ErrorCode code, string field, uint attemptsLeft) =>
        new() { Error = new Error { Code = code, Field = field, Message = code.ToString(), AttemptsLeft = attemptsLeft } };

    private sealed class StoredUser(byte[] record, byte[] blob)
    {
        public byte[] Record { get; } = record;

        public byte[] Blob { get; } = blob;

        public uint AttemptsUsed { get; set; }
    }

    private sealed record PendingLogin(string User, bool Fake, ServerLoginState State);
}

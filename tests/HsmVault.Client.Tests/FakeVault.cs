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
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Hpke;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
using HsmVault.Protocol.Fleet;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Client.Tests;

/// <summary>
/// A test-only vault on loopback TCP speaking the real client frames, backed by the real
/// <see cref="OpaqueServer"/> with software keys. It counts a guess at LoginStart and destroys a
/// record at the limit, as the enclave does, behind the same channel (a software channel key).
/// <see cref="Intercept"/> lets the fleet answer a request itself (sealed: to inject vault errors),
/// <see cref="HostIntercept"/> lets a hostile host answer on the wire, and
/// <see cref="TamperRecovered"/> flips a bit in Recovered.
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

    public FakeVault(int attemptLimit = 10, byte[]? akeSeed = null, X509Certificate2? tlsCertificate = null, string fleetId = "fake-vault")
    {
        AttemptLimit = attemptLimit;
        _tlsCertificate = tlsCertificate;
        var ake = SoftwareAkeKey.Derive(akeSeed ?? RandomNumberGenerator.GetBytes(32));
        PublicKey = ake.PublicKey;
        ChannelKey = P256HpkeKeyPair.Derive(RandomNumberGenerator.GetBytes(32));
        FleetKeys = FleetKeySet.Create(fleetId, ChannelKey.PublicKey, PublicKey);
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

    /// <summary>The fleet's own channel key (software here); its public half is in <see cref="FleetKeys"/>.</summary>
    public P256HpkeKeyPair ChannelKey { get; }

    /// <summary>What a client pins for this vault.</summary>
    public FleetKeySet FleetKeys { get; }

    /// <summary>Requests that reached the vault's socket, opened or not.</summary>
    public int RequestCount;

    /// <summary>Sees every request that opened (the fleet's view), before it is answered.</summary>
    public Action<string, VaultRequest>? Opened { get; set; }

    /// <summary>Lets the fleet answer a request itself (sealed, so the client trusts it): to inject vault errors.</summary>
    public Func<string, VaultRequest, VaultResponse?>? Intercept { get; set; }

    /// <summary>Lets a hostile host answer on the wire instead of the fleet: forged, replayed or clear answers.</summary>
    public Func<ClientRequest, ClientResponse?>? HostIntercept { get; set; }

    public bool TamperRecovered { get; set; }

    /// <summary>
    /// What the host in front of this vault announces, as the real host's AnnouncingRequestHandler
    /// does: the answer to a FleetQuery, and attached to a request that did not open. Null: a
    /// FleetQuery gets UNAVAILABLE.
    /// </summary>
    public FleetAnnouncement? Announcement { get; set; }

    /// <summary>FleetQuery requests received.</summary>
    public int FleetQueryCount;

    /// <summary>Requests carrying a sealed operation received (opened or not): what the client sent to this fleet.</summary>
    public int SealedRequestCount;

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
                    Interlocked.Increment(ref RequestCount);
                    ClientResponse response = HostIntercept?.Invoke(request) ?? Announce(request);
                    response.RequestId = request.RequestId;
                    await _codec.WriteAsync(stream, response, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or FrameFormatException or AuthenticationException)
            {
            }
        }
    }

    // The host's part: fleet queries, and the announcement beside a request that did not open.
    private ClientResponse Announce(ClientRequest request)
    {
        if (request.FleetQuery is not null)
        {
            Interlocked.Increment(ref FleetQueryCount);
            return Announcement is { } announcement
                ? new ClientResponse { FleetAnnouncement = announcement }
                : new ClientResponse { Error = new Error { Code = ErrorCode.Unavailable, Field = "fleet_query", Message = "no bundle" } };
        }

        Interlocked.Increment(ref SealedRequestCount);
        ClientResponse response = Answer(request);
        if (response.Error is { Code: ErrorCode.BadRequest } && Announcement is not null)
        {
            response.FleetAnnouncement = Announcement;
        }

        return response;
    }

    /// <summary>
    /// What the real enclave does with a request: open it under the channel key for the user it
    /// names (a clear error when it does not open), answer it, and seal the answer to it. Public so a
    /// hostile <see cref="HostIntercept"/> can relay to the fleet and then misuse the genuine answers.
    /// </summary>
    public ClientResponse Answer(ClientRequest request)
    {
        if (!VaultChannel.TryOpenRequest(ChannelKey, request.UserId.Span, request.EncapsulatedKey.Span, request.SealedRequest.Span, out byte[] plaintext, out ChannelResponder? responder))
        {
            return new ClientResponse { Error = new Error { Code = ErrorCode.BadRequest, Field = ClientRequest.SealedRequestField, Message = "does not open" } };
        }

        using (responder!)
        {
            VaultRequest inner = VaultRequest.Parser.ParseFrom(plaintext);
            Opened?.Invoke(request.UserId.ToStringUtf8(), inner);
            VaultResponse answer = Intercept?.Invoke(request.UserId.ToStringUtf8(), inner) ?? Handle(request.UserId, inner);
            return new ClientResponse { SealedResponse = ByteString.CopyFrom(responder!.Seal(answer.ToByteArray(), SystemRandomSource.Instance)) };
        }
    }

    private VaultResponse Handle(ByteString userId, VaultRequest request) => request.OperationCase switch
    {
        VaultRequest.OperationOneofCase.RegisterStart => RegisterStart(userId, request.RegisterStart),
        VaultRequest.OperationOneofCase.RegisterFinish => RegisterFinish(userId, request.RegisterFinish),
        VaultRequest.OperationOneofCase.LoginStart => LoginStart(userId, request.LoginStart),
        VaultRequest.OperationOneofCase.LoginFinish => LoginFinish(userId, request.LoginFinish),
        VaultRequest.OperationOneofCase.Status => Status(userId),
        _ => ErrorResponse(ErrorCode.BadRequest, "operation", 0),
    };

    private VaultResponse RegisterStart(ByteString userId, RegisterStart start)
    {
        byte[] response = _opaque.CreateRegistrationResponse(start.RegistrationRequest.Span, userId.Span);
        return new VaultResponse
        {
            RegisterStarted = new RegisterStarted { RegistrationResponse = ByteString.CopyFrom(response), RegistrationSession = ByteString.CopyFromUtf8("session") },
        };
    }

    private VaultResponse RegisterFinish(ByteString userId, RegisterFinish finish)
    {
        Interlocked.Increment(ref RegisterFinishCount);
        RegistrationRecord.Parse(finish.RegistrationRecord.Span);
        _users[userId.ToStringUtf8()] = new StoredUser(finish.RegistrationRecord.ToByteArray(), finish.EncryptedKeyBlob.ToByteArray());
        return new VaultResponse { Registered = new Registered() };
    }

    private VaultResponse LoginStart(ByteString userId, LoginStart start)
    {
        Interlocked.Increment(ref LoginStartCount);
        string user = userId.ToStringUtf8();
        byte[] ke2;
        ServerLoginState state;
        bool fake = !_users.TryGetValue(user, out StoredUser? stored);
        if (stored is not null)
        {
            stored.AttemptsUsed++;
            ke2 = _opaque.GenerateKE2(start.Ke1.Span, RegistrationRecord.Parse(stored.Record), userId.Span, PublicKey, userId.Span, out state);
        }
        else
        {
            byte[] seed = HMACSHA256.HashData(_fakeSeed, userId.Span);
            ke2 = _opaque.GenerateKE2(start.Ke1.Span, RegistrationRecord.CreateFake(seed), userId.Span, PublicKey, userId.Span, out state);
        }

        string session = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        _logins[session] = new PendingLogin(user, fake, state);
        return new VaultResponse { LoginStarted = new LoginStarted { Ke2 = ByteString.CopyFrom(ke2), LoginSession = ByteString.CopyFromUtf8(session) } };
    }

    private VaultResponse LoginFinish(ByteString userId, LoginFinish finish)
    {
        if (!_logins.TryRemove(finish.LoginSession.ToStringUtf8(), out PendingLogin? login) || login.User != userId.ToStringUtf8())
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
            return new VaultResponse { Deleted = new Deleted() };
        }

        stored.AttemptsUsed = 0;
        byte[] sealedBlob = RecoveredBlobCipher.Seal(sessionKey, userId.Span, stored.Blob);
        if (TamperRecovered)
        {
            sealedBlob[0] ^= 0x01;
        }

        return new VaultResponse { Recovered = new Recovered { SealedKeyBlob = ByteString.CopyFrom(sealedBlob) } };
    }

    private VaultResponse Status(ByteString userId) =>
        _users.TryGetValue(userId.ToStringUtf8(), out StoredUser? stored)
            ? new VaultResponse { Status = new StatusReport { AttemptsLeft = (uint)AttemptLimit - stored.AttemptsUsed, AttemptLimit = (uint)AttemptLimit } }
            : ErrorResponse(ErrorCode.NotRegistered, "status.user_id", 0);

    public static VaultResponse ErrorResponse(ErrorCode code, string field, uint attemptsLeft) =>
        new() { Error = new Error { Code = code, Field = field, Message = code.ToString(), AttemptsLeft = attemptsLeft } };

    private sealed class StoredUser(byte[] record, byte[] blob)
    {
        public byte[] Record { get; } = record;

        public byte[] Blob { get; } = blob;

        public uint AttemptsUsed { get; set; }
    }

    private sealed record PendingLogin(string User, bool Fake, ServerLoginState State);
}

using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using HsmVault.Client.Transparency;
using HsmVault.Crypto;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
using HsmVault.Protocol.Fleet;
using HsmVault.Protocol.V1;

namespace HsmVault.Client;

/// <summary>
/// Registers, recovers and deletes a user's backup key K in an HsmVault fleet, and reports a
/// user's remaining guesses. Every expected outcome is a <see cref="VaultOutcome"/>; the client
/// never logs or throws secrets, and zeroes its copies of the password, K and OPAQUE keys.
/// One connection is opened lazily and reused; operations on one client run one at a time.
/// </summary>
public sealed class VaultClient : IAsyncDisposable
{
    /// <summary>The size of the backup key K.</summary>
    public const int BackupKeyBytes = 32;

    private readonly VaultClientOptions _options;
    private readonly OpaqueClient _opaque;
    private readonly OpaqueClient _passkeyOpaque;
    private readonly VaultConnection _connection;

    // The fleet requests are sealed to: the pinned one, or the last accepted over the air. Null
    // until a bundle is accepted when nothing is pinned.
    private TrustedFleet? _fleet;

    // Users this client has seen a live record for (registered, status, a wrong password, a
    // recovery) and not seen gone since. Only with that knowledge can AUTH_FAILED with no attempts
    // left be read as "this guess destroyed the record": the vault gives an unknown user the very
    // same answer, on purpose.
    private readonly ConcurrentDictionary<string, bool> _knownLive = new(StringComparer.Ordinal);

    /// <summary>
    /// A client for the fleet of <see cref="VaultClientOptions.FleetKeys"/>. Throws
    /// <see cref="ArgumentException"/> when an option is invalid or a pinned key is not a P-256 point.
    /// </summary>
    public VaultClient(VaultClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        if ((options.FleetKeys ?? options.OverTheAir?.Current) is { } pinned)
        {
            try
            {
                _fleet = TrustedFleet.From(pinned);
            }
            catch (CryptoFormatException ex)
            {
                throw new ArgumentException($"FleetKeys: {ex.Message}", nameof(options), ex);
            }
        }

        byte[] context = Encoding.UTF8.GetBytes(options.OpaqueContext);
        _opaque = new OpaqueClient(new OpaqueConfiguration(context, options.Ksf), SystemRandomSource.Instance);

        // A passkey secret is 256 uniformly random bits: stretching adds nothing an attacker could
        // not skip (2^256 guesses either way), so it goes through the identity KSF. Its OPAQUE input
        // carries a label (VaultSecret), which keeps it apart from any password.
        _passkeyOpaque = new OpaqueClient(new OpaqueConfiguration(context, IdentityKsf.Instance), SystemRandomSource.Instance);
        _connection = new VaultConnection(options);
    }

    /// <summary>
    /// Registers <paramref name="user"/>: runs OPAQUE registration through the channel, so only the
    /// pinned fleet can answer it; checks the fleet's OPAQUE key against the pinned set before
    /// anything is uploaded, then uploads the record and K encrypted under a key derived from the
    /// OPAQUE export key. Registering an existing user replaces its record.
    /// </summary>
    public async Task<VaultOutcome> RegisterAsync(string user, ReadOnlyMemory<byte> password, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        using VaultSecret secret = VaultSecret.FromPassword(password.Span);
        return await RegisterAsync(user, secret, key, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Registers <paramref name="user"/> with a password or a passkey secret (see
    /// <see cref="VaultSecret"/>); otherwise as the password overload. The caller keeps and disposes
    /// <paramref name="secret"/>; recovery must present a secret of the same kind.
    /// </summary>
    public async Task<VaultOutcome> RegisterAsync(string user, VaultSecret secret, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        byte[] userId = UserIdBytes(user);
        ArgumentNullException.ThrowIfNull(secret);
        if (key.Length != BackupKeyBytes)
        {
            throw new ArgumentException($"key: must be {BackupKeyBytes} bytes, got {key.Length}", nameof(key));
        }

        VaultOutcome outcome = await RegisterCoreAsync(userId, secret, key, cancellationToken).ConfigureAwait(false);
        return Track(user, outcome);
    }

    private async Task<VaultOutcome> RegisterCoreAsync(byte[] userId, VaultSecret secret, ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        OpaqueClient opaque = OpaqueFor(secret);
        try
        {
            byte[] request = opaque.CreateRegistrationRequest(secret.OpaqueInput, out ClientRegistrationState state);
            using (state)
            {
                VaultResponse started = await ExchangeAsync(
                    userId, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(request) } },
                    cancellationToken).ConfigureAwait(false);
                if (started.ResultCase != VaultResponse.ResultOneofCase.RegisterStarted)
                {
                    return Unexpected(started, "register_started");
                }

                byte[] response = started.RegisterStarted.RegistrationResponse.ToByteArray();
                if (response.Length != OpaqueSizes.RegistrationResponse)
                {
                    return new ProtocolError($"register_started.registration_response: {response.Length} bytes, expected {OpaqueSizes.RegistrationResponse}");
                }

                if (CheckAkeKey(response.AsSpan(OpaqueSizes.PublicKey)) is { } mismatch)
                {
                    return mismatch;
                }

                byte[] serverIdentity = _fleet!.AkeKey;
                ReportStretching(secret);
                RegistrationResult result = await Task.Run(
                    () => opaque.FinalizeRegistration(state, response, serverIdentity, userId), cancellationToken).ConfigureAwait(false);
                byte[] blob;
                try
                {
                    blob = KeyBlobCipher.Seal(result.ExportKey, userId, key.Span);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(result.ExportKey);
                }

                VaultResponse finished = await ExchangeAsync(
                    userId,
                    new VaultRequest
                    {
                        RegisterFinish = new RegisterFinish
                        {
                            RegistrationSession = started.RegisterStarted.RegistrationSession,
                            RegistrationRecord = ByteString.CopyFrom(result.Record),
                            EncryptedKeyBlob = ByteString.CopyFrom(blob),
                        },
                    },
                    cancellationToken).ConfigureAwait(false);
                return finished.ResultCase == VaultResponse.ResultOneofCase.Registered
                    ? new UserRegistered()
                    : Unexpected(finished, "registered");
            }
        }
        catch (Exception ex) when (AsOutcome(ex) is { } outcome)
        {
            return outcome;
        }
    }

    /// <summary>
    /// Proves the password and returns K as <see cref="KeyRecovered"/>. A wrong password gives
    /// <see cref="WrongPassword"/> with the vault's count of remaining guesses.
    /// </summary>
    public async Task<VaultOutcome> RecoverAsync(string user, ReadOnlyMemory<byte> password, CancellationToken cancellationToken = default)
    {
        using VaultSecret secret = VaultSecret.FromPassword(password.Span);
        return await LoginAsync(user, secret, LoginAction.Recover, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>As the password overload, with a password or a passkey secret (<see cref="VaultSecret"/>).</summary>
    public Task<VaultOutcome> RecoverAsync(string user, VaultSecret secret, CancellationToken cancellationToken = default) =>
        LoginAsync(user, secret, LoginAction.Recover, cancellationToken);

    /// <summary>Proves the password and has the vault destroy the user's record (<see cref="UserDeleted"/>).</summary>
    public async Task<VaultOutcome> DeleteAsync(string user, ReadOnlyMemory<byte> password, CancellationToken cancellationToken = default)
    {
        using VaultSecret secret = VaultSecret.FromPassword(password.Span);
        return await LoginAsync(user, secret, LoginAction.Delete, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>As the password overload, with a password or a passkey secret (<see cref="VaultSecret"/>).</summary>
    public Task<VaultOutcome> DeleteAsync(string user, VaultSecret secret, CancellationToken cancellationToken = default) =>
        LoginAsync(user, secret, LoginAction.Delete, cancellationToken);

    /// <summary>How many guesses <paramref name="user"/> has left (<see cref="StatusReported"/>), or <see cref="NoRecord"/>.</summary>
    public async Task<VaultOutcome> StatusAsync(string user, CancellationToken cancellationToken = default)
    {
        byte[] userId = UserIdBytes(user);
        try
        {
            return Track(user, await QueryStatusAsync(userId, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception ex) when (AsOutcome(ex) is { } outcome)
        {
            return outcome;
        }
    }

    private async Task<VaultOutcome> QueryStatusAsync(byte[] userId, CancellationToken cancellationToken)
    {
        VaultResponse response = await ExchangeAsync(userId, new VaultRequest { Status = new StatusQuery() }, cancellationToken).ConfigureAwait(false);
        return response.ResultCase == VaultResponse.ResultOneofCase.Status
            ? new StatusReported(response.Status.AttemptsLeft, response.Status.AttemptLimit)
            : Unexpected(response, "status");
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    private async Task<VaultOutcome> LoginAsync(string user, VaultSecret secret, LoginAction action, CancellationToken cancellationToken)
    {
        byte[] userId = UserIdBytes(user);
        ArgumentNullException.ThrowIfNull(secret);
        bool wasLive = _knownLive.ContainsKey(user);
        VaultOutcome outcome = await LoginCoreAsync(userId, secret, action, cancellationToken).ConfigureAwait(false);

        // The failed guess ended with no live record. Had this client seen the record live, this
        // guess used its last attempt (the enclave buries the record exactly then); otherwise the
        // answer is also what an unknown, deleted or long-destroyed user gets, and stays NoRecord.
        if (outcome is NoRecord { AfterFailedGuess: true } && wasLive)
        {
            outcome = new RecordDestroyed();
        }

        return Track(user, outcome);
    }

    private async Task<VaultOutcome> LoginCoreAsync(byte[] userId, VaultSecret secret, LoginAction action, CancellationToken cancellationToken)
    {
        OpaqueClient opaque = OpaqueFor(secret);
        try
        {
            byte[] ke1 = opaque.GenerateKE1(secret.OpaqueInput, out ClientLoginState state);
            using (state)
            {
                VaultResponse started = await ExchangeAsync(
                    userId, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(ke1) } }, cancellationToken).ConfigureAwait(false);
                if (started.ResultCase != VaultResponse.ResultOneofCase.LoginStarted)
                {
                    return Unexpected(started, "login_started");
                }

                byte[] ke2 = started.LoginStarted.Ke2.ToByteArray();
                ByteString session = started.LoginStarted.LoginSession;
                byte[] serverIdentity = _fleet!.AkeKey;
                ReportStretching(secret);
                LoginResult result;
                try
                {
                    result = await Task.Run(() => opaque.GenerateKE3(state, ke2, serverIdentity, userId), cancellationToken).ConfigureAwait(false);
                }
                catch (OpaqueAuthenticationException)
                {
                    return await ReportFailedGuessAsync(userId, session, action, cancellationToken).ConfigureAwait(false);
                }
                catch (CryptoFormatException ex)
                {
                    return new ProtocolError($"login_started.ke2: {ex.Message}");
                }

                try
                {
                    if (CheckAkeKey(result.ServerPublicKey) is { } mismatch)
                    {
                        return mismatch;
                    }

                    VaultResponse finished = await ExchangeAsync(
                        userId,
                        new VaultRequest { LoginFinish = new LoginFinish { LoginSession = session, Ke3 = ByteString.CopyFrom(result.KE3), Action = action } },
                        cancellationToken).ConfigureAwait(false);
                    return action == LoginAction.Delete
                        ? finished.ResultCase == VaultResponse.ResultOneofCase.Deleted ? new UserDeleted() : Unexpected(finished, "deleted")
                        : finished.ResultCase == VaultResponse.ResultOneofCase.Recovered ? OpenRecovered(finished.Recovered, result, userId) : Unexpected(finished, "recovered");
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(result.SessionKey);
                    CryptographicOperations.ZeroMemory(result.ExportKey);
                }
            }
        }
        catch (Exception ex) when (AsOutcome(ex) is { } outcome)
        {
            return outcome;
        }
    }

    // The envelope did not open, so there is no KE3 to send. The vault already counted the guess
    // at LoginStart; finishing with a random KE3 makes it answer AUTH_FAILED with the count.
    private async Task<VaultOutcome> ReportFailedGuessAsync(byte[] userId, ByteString session, LoginAction action, CancellationToken cancellationToken)
    {
        byte[] ke3 = RandomNumberGenerator.GetBytes(OpaqueSizes.KE3);
        VaultResponse finished = await ExchangeAsync(
            userId, new VaultRequest { LoginFinish = new LoginFinish { LoginSession = session, Ke3 = ByteString.CopyFrom(ke3), Action = action } },
            cancellationToken).ConfigureAwait(false);
        if (finished.ResultCase != VaultResponse.ResultOneofCase.Error)
        {
            return new ProtocolError($"the vault answered {finished.ResultCase} to a login whose KE2 did not verify; expected error AUTH_FAILED");
        }

        if (finished.Error.Code != ErrorCode.Stale)
        {
            // AUTH_FAILED with no attempts left: no live record now (LoginAsync says more when it can).
            VaultOutcome failed = FromError(finished.Error);
            return failed is NoRecord && finished.Error.Code == ErrorCode.AuthFailed ? new NoRecord { AfterFailedGuess = true } : failed;
        }

        // Another login for this user counted its guess after ours started, so the vault refuses
        // this session as stale. Our guess was counted at LoginStart all the same, and the envelope
        // already told us the password is wrong: report that with the vault's current count.
        return await QueryStatusAsync(userId, cancellationToken).ConfigureAwait(false) switch
        {
            StatusReported { AttemptsLeft: > 0 } left => new WrongPassword(left.AttemptsLeft),
            StatusReported or NoRecord => new NoRecord { AfterFailedGuess = true },
            VaultOutcome other => other,
        };
    }

    private static VaultOutcome OpenRecovered(Recovered recovered, LoginResult login, byte[] userId)
    {
        if (!RecoveredBlobCipher.TryOpen(login.SessionKey, userId, recovered.SealedKeyBlob.Span, out byte[] blob))
        {
            return new ProtocolError("recovered.sealed_key_blob: does not authenticate under this session's key (altered in transit)");
        }

        try
        {
            byte[]? key = KeyBlobCipher.TryOpen(login.ExportKey, userId, blob);
            if (key is null)
            {
                return new ProtocolError("encrypted key blob: does not authenticate under the export key (altered, or uploaded for another user)");
            }

            if (key.Length != BackupKeyBytes)
            {
                CryptographicOperations.ZeroMemory(key);
                return new ProtocolError($"encrypted key blob: holds {key.Length} bytes, expected a {BackupKeyBytes}-byte key");
            }

            return new KeyRecovered(key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(blob);
        }
    }

    /// <summary>The fleet this client seals to now (pinned or accepted over the air), or null before any.</summary>
    public FleetKeySet? CurrentFleet => _fleet?.Keys;

    /// <summary>The host this client's open connection goes to (the first host or a failover one), or null while none is open.</summary>
    public VaultHostAddress? ConnectedHost => _connection.ConnectedHost;

    /// <summary>
    /// Seals <paramref name="request"/> to the trusted fleet's channel key and opens the answer.
    /// Only a sealed answer that opens under this request's key is returned; anything else ends the
    /// operation with a <see cref="VaultAnswerException"/>, and an answer that claims to be the
    /// fleet's but is not drops the connection, so nothing more is sent over it. Over the air, a
    /// fleet is first accepted from the host's announcement, and a request the fleet could not open
    /// is sealed once more to a newer fleet the attached bundle proves.
    /// </summary>
    private async Task<VaultResponse> ExchangeAsync(byte[] userId, VaultRequest request, CancellationToken cancellationToken)
    {
        TrustedFleet fleet = _fleet ?? await AcceptAnnouncedAsync(null, cancellationToken).ConfigureAwait(false);
        (VaultResponse? answer, ClientResponse clear) = await SealedExchangeAsync(fleet, userId, request, cancellationToken).ConfigureAwait(false);
        if (answer is null && _options.OverTheAir is not null && IsUnopenedRequest(clear.Error) && clear.FleetAnnouncement is not null)
        {
            // The fleet behind this host cannot open what was sealed to ours: rotated, or another
            // fleet. Only a bundle that passes every check moves the client, and only forward.
            TrustedFleet moved = await AcceptAnnouncedAsync(clear.FleetAnnouncement, cancellationToken).ConfigureAwait(false);
            if (!CryptographicOperations.FixedTimeEquals(moved.ChannelKey, fleet.ChannelKey))
            {
                (answer, clear) = await SealedExchangeAsync(moved, userId, request, cancellationToken).ConfigureAwait(false);
            }
        }

        return answer ?? throw new VaultAnswerException(FromClearError(clear.Error));
    }

    // One request sealed to one fleet: the opened answer, or null with the clear error.
    private async Task<(VaultResponse? Answer, ClientResponse Clear)> SealedExchangeAsync(TrustedFleet fleet, byte[] userId, VaultRequest request, CancellationToken cancellationToken)
    {
        byte[] plaintext = request.ToByteArray();
        PendingChannelResponse pending;
        byte[] encapsulatedKey;
        byte[] sealedRequest;
        try
        {
            pending = VaultChannel.SealRequest(fleet.ChannelKey, userId, plaintext, SystemRandomSource.Instance, out encapsulatedKey, out sealedRequest);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }

        using (pending)
        {
            ClientResponse response = await _connection.ExchangeAsync(
                new ClientRequest
                {
                    UserId = ByteString.CopyFrom(userId),
                    EncapsulatedKey = ByteString.CopyFrom(encapsulatedKey),
                    SealedRequest = ByteString.CopyFrom(sealedRequest),
                },
                cancellationToken).ConfigureAwait(false);
            switch (response.ResultCase)
            {
                case ClientResponse.ResultOneofCase.SealedResponse:
                    if (!pending.TryOpen(response.SealedResponse.Span, out byte[] opened))
                    {
                        throw Refuse("sealed_response: does not open under this request's key (forged, altered, or the answer to another request)");
                    }

                    try
                    {
                        return (VaultResponse.Parser.ParseFrom(opened), response);
                    }
                    catch (InvalidProtocolBufferException)
                    {
                        throw new VaultAnswerException(new ProtocolError("sealed_response: opens, but is not a VaultResponse"));
                    }
                    finally
                    {
                        CryptographicOperations.ZeroMemory(opened);
                    }

                case ClientResponse.ResultOneofCase.Error:
                    return (null, response);
                default:
                    throw new VaultAnswerException(new ProtocolError("response: neither sealed_response nor error is set"));
            }
        }
    }

    private static bool IsUnopenedRequest(Error error) => error.Code == ErrorCode.BadRequest && error.Field == ClientRequest.SealedRequestField;

    /// <summary>
    /// Checks the fleet the host announces (asking for it when <paramref name="announcement"/> is
    /// null) and makes it the trusted one. Any refusal drops the connection and ends the operation
    /// before anything is sealed to that fleet.
    /// </summary>
    private async Task<TrustedFleet> AcceptAnnouncedAsync(FleetAnnouncement? announcement, CancellationToken cancellationToken)
    {
        OverTheAirFleet overTheAir = _options.OverTheAir
            ?? throw new InvalidOperationException("no fleet is pinned and over-the-air fleets are off");
        if (announcement is null)
        {
            ClientResponse answer = await _connection.ExchangeAsync(new ClientRequest { FleetQuery = new FleetQuery() }, cancellationToken).ConfigureAwait(false);
            if (answer.FleetAnnouncement is null)
            {
                // BUSY is only a reason to retry; anything else leaves the client with no fleet to trust.
                throw answer.Error is { Code: ErrorCode.Busy } busy
                    ? new VaultAnswerException(FromClearError(busy))
                    : RefuseBundle(new BundleNotAnnounced(answer.Error is { } error ? $"{error.Code}: {error.Message}" : "the answer carries no fleet_announcement"));
            }

            announcement = answer.FleetAnnouncement;
        }

        _options.Progress?.Report(VaultProgress.CheckingFleetBundle);
        BundleVerdict verdict = overTheAir.Accept(announcement.ValidationBundle, announcement.ChannelPublicKey.Span);
        if (verdict is not BundleAccepted accepted)
        {
            throw RefuseBundle(verdict);
        }

        try
        {
            _fleet = TrustedFleet.From(accepted.FleetKeys);
        }
        catch (CryptoFormatException ex)
        {
            throw RefuseBundle(new BundleMalformed($"entry.fleet_keys: {ex.Message}"));
        }

        return _fleet;
    }

    private VaultAnswerException RefuseBundle(BundleVerdict verdict)
    {
        _connection.Abandon();
        return new VaultAnswerException(new FleetBundleRefused(verdict));
    }

    /// <summary>
    /// An answer in the clear is the host's word, never the fleet's: it may tell the client to retry
    /// or give up, but not what the vault holds. One that claims what only the fleet can say ends
    /// the connection.
    /// </summary>
    private VaultOutcome FromClearError(Error error)
    {
        string detail = string.IsNullOrEmpty(error.Field) ? error.Message : $"{error.Field}: {error.Message}";
        if (error.Code is ErrorCode.Unavailable or ErrorCode.Busy or ErrorCode.Internal)
        {
            // This host cannot serve now; the next request tries the next one (this one is not resent).
            _connection.PreferNextHost();
        }

        return error.Code switch
        {
            ErrorCode.Unavailable => new Unavailable($"UNAVAILABLE: {detail}"),
            ErrorCode.Busy => new Unavailable($"BUSY: {detail}"),
            ErrorCode.Internal => new Unavailable($"INTERNAL: {detail}"),
            ErrorCode.Locked => new RateLimited(detail),
            ErrorCode.TooLarge => new ProtocolError($"the host rejected the request as too large (TOO_LARGE) {detail}"),
            ErrorCode.BadRequest when error.Field == ClientRequest.SealedRequestField =>
                Refuse($"the vault cannot open the request: the pinned channel key is not this fleet's ({detail})").Outcome,
            ErrorCode.BadRequest => new ProtocolError($"the host rejected the request as malformed (BAD_REQUEST) {detail}"),
            _ => Refuse($"the host answered {error.Code} in the clear; only the fleet's sealed answer can say that").Outcome,
        };
    }

    private VaultAnswerException Refuse(string detail)
    {
        _connection.Abandon();
        return new VaultAnswerException(new FleetNotAuthenticated(detail));
    }

    // The channel proves the answer came from the fleet; this checks the fleet's OPAQUE key is the
    // pinned one, so a key set whose parts belong to different fleets is caught before any upload.
    private FleetNotAuthenticated? CheckAkeKey(ReadOnlySpan<byte> serverKey)
    {
        byte[] trusted = _fleet!.AkeKey;
        if (CryptographicOperations.FixedTimeEquals(trusted, serverKey))
        {
            return null;
        }

        _connection.Abandon();
        return new FleetNotAuthenticated($"the fleet's OPAQUE key {Convert.ToHexStringLower(serverKey)} is not the pinned {Convert.ToHexStringLower(trusted)}");
    }

    private static VaultOutcome Unexpected(VaultResponse response, string expected) =>
        response.ResultCase == VaultResponse.ResultOneofCase.Error
            ? FromError(response.Error)
            : new ProtocolError($"response: expected {expected}, got {(response.ResultCase == VaultResponse.ResultOneofCase.None ? "no result" : response.ResultCase.ToString())}");

    /// <summary>Maps an error the fleet sealed to the outcome a caller acts on.</summary>
    internal static VaultOutcome FromError(Error error)
    {
        string detail = string.IsNullOrEmpty(error.Field) ? error.Message : $"{error.Field}: {error.Message}";
        return error.Code switch
        {
            ErrorCode.NotRegistered => new NoRecord(),
            ErrorCode.AuthFailed => error.AttemptsLeft > 0 ? new WrongPassword(error.AttemptsLeft) : new NoRecord(),
            ErrorCode.Locked => new RateLimited(detail),
            ErrorCode.Stale => new Conflict(detail),
            ErrorCode.Unavailable => new Unavailable($"UNAVAILABLE: {detail}"),
            ErrorCode.Busy => new Unavailable($"BUSY: {detail}"),
            ErrorCode.Internal => new Unavailable($"INTERNAL: {detail}"),
            ErrorCode.BadRequest => new ProtocolError($"the vault rejected the request as malformed (BAD_REQUEST) {detail}"),
            ErrorCode.TooLarge => new ProtocolError($"the vault rejected the request as too large (TOO_LARGE) {detail}"),
            _ => new ProtocolError($"the vault answered error code {(int)error.Code} ({error.Code}) {detail}"),
        };
    }

    private OpaqueClient OpaqueFor(VaultSecret secret) => secret.Kind == VaultSecretKind.PasskeyPrf ? _passkeyOpaque : _opaque;

    // Only a password is stretched; saying so for a passkey secret would be untrue.
    private void ReportStretching(VaultSecret secret)
    {
        if (secret.Kind == VaultSecretKind.Password)
        {
            _options.Progress?.Report(VaultProgress.StretchingPassword);
        }
    }

    private VaultOutcome Track(string user, VaultOutcome outcome)
    {
        switch (outcome)
        {
            case UserRegistered or StatusReported or WrongPassword or KeyRecovered:
                _knownLive[user] = true;
                break;
            case NoRecord or UserDeleted:
                _knownLive.TryRemove(user, out _);
                break;
        }

        return outcome;
    }

    private static VaultOutcome? AsOutcome(Exception ex) => ex switch
    {
        VaultAnswerException answer => answer.Outcome,
        VaultUnreachableException unreachable => new Unavailable(unreachable.Message),
        VaultProtocolException protocol => new ProtocolError(protocol.Message),
        _ => null,
    };

    private static byte[] UserIdBytes(string user)
    {
        ArgumentException.ThrowIfNullOrEmpty(user);
        return Encoding.UTF8.GetBytes(user);
    }

    // A fleet's two public keys, checked to be P-256 points before anything is sealed to them.
    private sealed record TrustedFleet(FleetKeySet Keys, byte[] ChannelKey, byte[] AkeKey)
    {
        public static TrustedFleet From(FleetKeySet keys)
        {
            byte[] channel = keys.ChannelPublicKey;
            byte[] ake = keys.OpaqueAkePublicKey;
            P256Group.ValidateUncompressed(channel, "fleet keys: channel");
            P256Group.ValidateElement(ake, "fleet keys: opaque-ake");
            return new TrustedFleet(keys, channel, ake);
        }
    }
}

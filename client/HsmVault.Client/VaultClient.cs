using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
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
    private readonly VaultConnection _connection;
    private readonly byte[] _serverIdentity;
    private long _fleetKeyConfirmedOn;

    public VaultClient(VaultClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _opaque = new OpaqueClient(new OpaqueConfiguration(Encoding.UTF8.GetBytes(options.OpaqueContext), options.Ksf), SystemRandomSource.Instance);
        _connection = new VaultConnection(options);
        _serverIdentity = options.FleetKey.ToArray();
    }

    /// <summary>
    /// Registers <paramref name="user"/>: runs OPAQUE registration, checks the vault's key against
    /// the pin before anything is uploaded, then uploads the record and K encrypted under a key
    /// derived from the OPAQUE export key. Registering an existing user replaces its record.
    /// </summary>
    public async Task<VaultOutcome> RegisterAsync(string user, ReadOnlyMemory<byte> password, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        byte[] userId = UserIdBytes(user);
        CheckPassword(password);
        if (key.Length != BackupKeyBytes)
        {
            throw new ArgumentException($"key: must be {BackupKeyBytes} bytes, got {key.Length}", nameof(key));
        }

        try
        {
            byte[] request = _opaque.CreateRegistrationRequest(password.Span, out ClientRegistrationState state);
            using (state)
            {
                ClientResponse started = await _connection.ExchangeAsync(
                    new ClientRequest { RegisterStart = new RegisterStart { UserId = ByteString.CopyFrom(userId), RegistrationRequest = ByteString.CopyFrom(request) } },
                    cancellationToken).ConfigureAwait(false);
                if (started.ResultCase != ClientResponse.ResultOneofCase.RegisterStarted)
                {
                    return Unexpected(started, "register_started");
                }

                byte[] response = started.RegisterStarted.RegistrationResponse.ToByteArray();
                if (response.Length != OpaqueSizes.RegistrationResponse)
                {
                    return new ProtocolError($"register_started.registration_response: {response.Length} bytes, expected {OpaqueSizes.RegistrationResponse}");
                }

                if (CheckPin(response.AsSpan(OpaqueSizes.PublicKey)) is { } mismatch)
                {
                    return mismatch;
                }

                _options.Progress?.Report(VaultProgress.StretchingPassword);
                RegistrationResult result = await Task.Run(
                    () => _opaque.FinalizeRegistration(state, response, _serverIdentity, userId), cancellationToken).ConfigureAwait(false);
                byte[] blob;
                try
                {
                    blob = KeyBlobCipher.Seal(result.ExportKey, userId, key.Span);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(result.ExportKey);
                }

                ClientResponse finished = await _connection.ExchangeAsync(
                    new ClientRequest
                    {
                        RegisterFinish = new RegisterFinish
                        {
                            UserId = ByteString.CopyFrom(userId),
                            RegistrationSession = started.RegisterStarted.RegistrationSession,
                            RegistrationRecord = ByteString.CopyFrom(result.Record),
                            EncryptedKeyBlob = ByteString.CopyFrom(blob),
                        },
                    },
                    cancellationToken).ConfigureAwait(false);
                return finished.ResultCase == ClientResponse.ResultOneofCase.Registered
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
    public Task<VaultOutcome> RecoverAsync(string user, ReadOnlyMemory<byte> password, CancellationToken cancellationToken = default) =>
        LoginAsync(user, password, LoginAction.Recover, cancellationToken);

    /// <summary>Proves the password and has the vault destroy the user's record (<see cref="UserDeleted"/>).</summary>
    public Task<VaultOutcome> DeleteAsync(string user, ReadOnlyMemory<byte> password, CancellationToken cancellationToken = default) =>
        LoginAsync(user, password, LoginAction.Delete, cancellationToken);

    /// <summary>How many guesses <paramref name="user"/> has left (<see cref="StatusReported"/>), or <see cref="NoRecord"/>.</summary>
    public async Task<VaultOutcome> StatusAsync(string user, CancellationToken cancellationToken = default)
    {
        byte[] userId = UserIdBytes(user);
        try
        {
            return await QueryStatusAsync(userId, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (AsOutcome(ex) is { } outcome)
        {
            return outcome;
        }
    }

    private async Task<VaultOutcome> QueryStatusAsync(byte[] userId, CancellationToken cancellationToken)
    {
        ClientResponse response = await _connection.ExchangeAsync(
            new ClientRequest { Status = new StatusQuery { UserId = ByteString.CopyFrom(userId) } }, cancellationToken).ConfigureAwait(false);
        return response.ResultCase == ClientResponse.ResultOneofCase.Status
            ? new StatusReported(response.Status.AttemptsLeft, response.Status.AttemptLimit)
            : Unexpected(response, "status");
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    private async Task<VaultOutcome> LoginAsync(string user, ReadOnlyMemory<byte> password, LoginAction action, CancellationToken cancellationToken)
    {
        byte[] userId = UserIdBytes(user);
        CheckPassword(password);
        try
        {
            if (_options.ProbeFleetKeyBeforeLogin && !FleetKeyConfirmedOnThisConnection()
                && await ProbeFleetKeyAsync(userId, cancellationToken).ConfigureAwait(false) is { } refused)
            {
                return refused;
            }

            byte[] ke1 = _opaque.GenerateKE1(password.Span, out ClientLoginState state);
            using (state)
            {
                ClientResponse started = await _connection.ExchangeAsync(
                    new ClientRequest { LoginStart = new LoginStart { UserId = ByteString.CopyFrom(userId), Ke1 = ByteString.CopyFrom(ke1) } },
                    cancellationToken).ConfigureAwait(false);
                if (started.ResultCase != ClientResponse.ResultOneofCase.LoginStarted)
                {
                    return Unexpected(started, "login_started");
                }

                byte[] ke2 = started.LoginStarted.Ke2.ToByteArray();
                ByteString session = started.LoginStarted.LoginSession;
                _options.Progress?.Report(VaultProgress.StretchingPassword);
                LoginResult result;
                try
                {
                    result = await Task.Run(() => _opaque.GenerateKE3(state, ke2, _serverIdentity, userId), cancellationToken).ConfigureAwait(false);
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
                    if (CheckPin(result.ServerPublicKey) is { } mismatch)
                    {
                        return mismatch;
                    }

                    ClientResponse finished = await _connection.ExchangeAsync(
                        new ClientRequest
                        {
                            LoginFinish = new LoginFinish { UserId = ByteString.CopyFrom(userId), LoginSession = session, Ke3 = ByteString.CopyFrom(result.KE3), Action = action },
                        },
                        cancellationToken).ConfigureAwait(false);
                    return action == LoginAction.Delete
                        ? finished.ResultCase == ClientResponse.ResultOneofCase.Deleted ? new UserDeleted() : Unexpected(finished, "deleted")
                        : finished.ResultCase == ClientResponse.ResultOneofCase.Recovered ? OpenRecovered(finished.Recovered, result, userId) : Unexpected(finished, "recovered");
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
        ClientResponse finished = await _connection.ExchangeAsync(
            new ClientRequest { LoginFinish = new LoginFinish { UserId = ByteString.CopyFrom(userId), LoginSession = session, Ke3 = ByteString.CopyFrom(ke3), Action = action } },
            cancellationToken).ConfigureAwait(false);
        if (finished.ResultCase != ClientResponse.ResultOneofCase.Error)
        {
            return new ProtocolError($"the vault answered {finished.ResultCase} to a login whose KE2 did not verify; expected error AUTH_FAILED");
        }

        if (finished.Error.Code != ErrorCode.Stale)
        {
            return FromError(finished.Error);
        }

        // Another login for this user counted its guess after ours started, so the vault refuses
        // this session as stale. Our guess was counted at LoginStart all the same, and the envelope
        // already told us the password is wrong: report that with the vault's current count.
        return await QueryStatusAsync(userId, cancellationToken).ConfigureAwait(false) switch
        {
            StatusReported { AttemptsLeft: > 0 } left => new WrongPassword(left.AttemptsLeft),
            StatusReported => new NoRecord(),
            VaultOutcome other => other,
        };
    }

    // The probe answers "is this connection's peer the pinned fleet?"; the answer holds until the
    // connection closes, so a client that recovers many times over one connection probes once.
    private bool FleetKeyConfirmedOnThisConnection()
    {
        long open = _connection.OpenConnection;
        return open != 0 && Interlocked.Read(ref _fleetKeyConfirmedOn) == open;
    }

    // A registration start changes nothing in the vault and counts no guess, but its response
    // carries the fleet key: checking it first keeps a guess from going to the wrong fleet.
    private async Task<VaultOutcome?> ProbeFleetKeyAsync(byte[] userId, CancellationToken cancellationToken)
    {
        byte[] dummy = RandomNumberGenerator.GetBytes(32);
        byte[] request = _opaque.CreateRegistrationRequest(dummy, out ClientRegistrationState state);
        state.Dispose();
        ClientResponse response = await _connection.ExchangeAsync(
            new ClientRequest { RegisterStart = new RegisterStart { UserId = ByteString.CopyFrom(userId), RegistrationRequest = ByteString.CopyFrom(request) } },
            cancellationToken).ConfigureAwait(false);
        if (response.ResultCase != ClientResponse.ResultOneofCase.RegisterStarted)
        {
            return Unexpected(response, "register_started (fleet key probe)");
        }

        byte[] registrationResponse = response.RegisterStarted.RegistrationResponse.ToByteArray();
        if (registrationResponse.Length != OpaqueSizes.RegistrationResponse)
        {
            return new ProtocolError($"register_started.registration_response: {registrationResponse.Length} bytes, expected {OpaqueSizes.RegistrationResponse}");
        }

        VaultOutcome? mismatch = CheckPin(registrationResponse.AsSpan(OpaqueSizes.PublicKey));
        if (mismatch is null)
        {
            Interlocked.Exchange(ref _fleetKeyConfirmedOn, _connection.OpenConnection);
        }

        return mismatch;
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

    private FleetKeyMismatch? CheckPin(ReadOnlySpan<byte> serverKey) =>
        _options.FleetKey.Matches(serverKey) ? null : new FleetKeyMismatch(_options.FleetKey.Hex, Convert.ToHexStringLower(serverKey));

    private static VaultOutcome Unexpected(ClientResponse response, string expected) =>
        response.ResultCase == ClientResponse.ResultOneofCase.Error
            ? FromError(response.Error)
            : new ProtocolError($"response: expected {expected}, got {(response.ResultCase == ClientResponse.ResultOneofCase.None ? "no result" : response.ResultCase.ToString())}");

    /// <summary>Maps a vault error to the outcome a caller acts on.</summary>
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

    private static VaultOutcome? AsOutcome(Exception ex) => ex switch
    {
        VaultUnreachableException unreachable => new Unavailable(unreachable.Message),
        VaultProtocolException protocol => new ProtocolError(protocol.Message),
        _ => null,
    };

    private static byte[] UserIdBytes(string user)
    {
        ArgumentException.ThrowIfNullOrEmpty(user);
        return Encoding.UTF8.GetBytes(user);
    }

    private static void CheckPassword(ReadOnlyMemory<byte> password)
    {
        if (password.IsEmpty)
        {
            throw new ArgumentException("password: must not be empty", nameof(password));
        }
    }
}

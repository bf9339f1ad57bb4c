using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Fleet;

/// <summary>A client of a <see cref="TestFleet"/>: the OPAQUE client side, whole operations through honest rounds.</summary>
internal sealed class FleetUser(TestFleet fleet, string name, ulong seed = 1)
{
    private readonly OpaqueClient _client = new(OpaqueConfiguration.ForTesting("HsmVault-v1"u8), new Vault.SeededRandomSource(seed));

    public ByteString UserId { get; } = ByteString.CopyFromUtf8(name);

    public UserRequest RegisterStart(string password, out ClientRegistrationState state) => new(UserId, new VaultRequest
    {
        RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(_client.CreateRegistrationRequest(Encoding.UTF8.GetBytes(password), out state)) },
    });

    public UserRequest RegisterFinish(ClientRegistrationState state, RegisterStarted started, byte[] blob)
    {
        RegistrationResult result = _client.FinalizeRegistration(state, started.RegistrationResponse.Span, fleet.AkePublicKey, UserId.Span);
        return new UserRequest(UserId, new VaultRequest
        {
            RegisterFinish = new RegisterFinish { RegistrationSession = started.RegistrationSession, RegistrationRecord = ByteString.CopyFrom(result.Record), EncryptedKeyBlob = ByteString.CopyFrom(blob) },
        });
    }

    public VaultResponse Register(string password, byte[] blob)
    {
        VaultResponse started = fleet.Send(RegisterStart(password, out ClientRegistrationState state));
        if (started.ResultCase != VaultResponse.ResultOneofCase.RegisterStarted)
        {
            return started;
        }

        return fleet.Send(RegisterFinish(state, started.RegisterStarted, blob));
    }

    public UserRequest LoginStart(string password, out ClientLoginState state) => new(UserId, new VaultRequest
    {
        LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(_client.GenerateKE1(Encoding.UTF8.GetBytes(password), out state)) },
    });

    /// <summary>KE3 for a KE2, or a stand-in when the password is wrong (the guess was counted at LoginStart).</summary>
    public (byte[] Ke3, byte[]? SessionKey) Finish(ClientLoginState state, LoginStarted started)
    {
        try
        {
            LoginResult result = _client.GenerateKE3(state, started.Ke2.Span, fleet.AkePublicKey, UserId.Span);
            return (result.KE3, result.SessionKey);
        }
        catch (OpaqueAuthenticationException)
        {
            return (SHA256.HashData(started.Ke2.Span), null);
        }
    }

    public UserRequest LoginFinish(ByteString session, byte[] ke3, LoginAction action = LoginAction.Recover) => new(UserId, new VaultRequest
    {
        LoginFinish = new LoginFinish { LoginSession = session, Ke3 = ByteString.CopyFrom(ke3), Action = action },
    });

    /// <summary>A whole recovery; the blob on success, else null with the vault's answer.</summary>
    public byte[]? Recover(string password, out VaultResponse answer)
    {
        answer = fleet.Send(LoginStart(password, out ClientLoginState state));
        if (answer.ResultCase != VaultResponse.ResultOneofCase.LoginStarted)
        {
            return null;
        }

        (byte[] ke3, byte[]? sessionKey) = Finish(state, answer.LoginStarted);
        answer = fleet.Send(LoginFinish(answer.LoginStarted.LoginSession, ke3));
        if (answer.ResultCase != VaultResponse.ResultOneofCase.Recovered || sessionKey is null)
        {
            return null;
        }

        return RecoveredBlobCipher.TryOpen(sessionKey, UserId.Span, answer.Recovered.SealedKeyBlob.Span, out byte[] blob) ? blob : null;
    }

    public UserRequest StatusRequest() => new(UserId, new VaultRequest { Status = new StatusQuery() });

    public uint AttemptsLeft()
    {
        VaultResponse status = fleet.Send(StatusRequest());
        return status.ResultCase == VaultResponse.ResultOneofCase.Status ? status.Status.AttemptsLeft : 0;
    }
}

using System.Text;
using Google.Protobuf;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>A client of a <see cref="TestVault"/>: runs the OPAQUE client side and builds requests.</summary>
internal sealed class TestUser
{
    private readonly TestVault _vault;
    private readonly OpaqueClient _client;

    public TestUser(TestVault vault, string name, ulong seed = 1)
    {
        _vault = vault;
        Name = name;
        UserId = ByteString.CopyFromUtf8(name);
        _client = new OpaqueClient(OpaqueConfiguration.ForTesting("HsmVault-v1"u8), new SeededRandomSource(seed));
    }

    public string Name { get; }

    public ByteString UserId { get; }

    public UserRequest RegisterStartRequest(string password, out ClientRegistrationState state) => new(UserId, new VaultRequest
    {
        RegisterStart = new RegisterStart
        {
            RegistrationRequest = ByteString.CopyFrom(_client.CreateRegistrationRequest(Encoding.UTF8.GetBytes(password), out state)),
        },
    });

    public UserRequest RegisterFinishRequest(ClientRegistrationState state, RegisterStarted started, byte[] blob)
    {
        RegistrationResult result = _client.FinalizeRegistration(state, started.RegistrationResponse.Span, _vault.Hsm.AkePublicKey, UserId.Span);
        return new UserRequest(UserId, new VaultRequest
        {
            RegisterFinish = new RegisterFinish
            {
                RegistrationSession = started.RegistrationSession,
                RegistrationRecord = ByteString.CopyFrom(result.Record),
                EncryptedKeyBlob = ByteString.CopyFrom(blob),
            },
        });
    }

    public void Register(string password, byte[] blob)
    {
        VaultResponse started = _vault.Send(RegisterStartRequest(password, out ClientRegistrationState state));
        Assert.AreEqual(VaultResponse.ResultOneofCase.RegisterStarted, started.ResultCase, started.ToString());
        VaultResponse finished = _vault.Send(RegisterFinishRequest(state, started.RegisterStarted, blob));
        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, finished.ResultCase, finished.ToString());
    }

    public UserRequest LoginStartRequest(string password, out ClientLoginState state) => new(UserId, new VaultRequest
    {
        LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(_client.GenerateKE1(Encoding.UTF8.GetBytes(password), out state)) },
    });

    /// <summary>Runs KE3 on the client; null when the client itself detects a wrong password.</summary>
    public LoginResult? TryFinishLocally(ClientLoginState state, LoginStarted started)
    {
        try
        {
            return _client.GenerateKE3(state, started.Ke2.Span, _vault.Hsm.AkePublicKey, UserId.Span);
        }
        catch (OpaqueAuthenticationException)
        {
            return null;
        }
    }

    public UserRequest LoginFinishRequest(ByteString loginSession, byte[] ke3, LoginAction action = LoginAction.Recover) => new(UserId, new VaultRequest
    {
        LoginFinish = new LoginFinish { LoginSession = loginSession, Ke3 = ByteString.CopyFrom(ke3), Action = action },
    });

    public UserRequest StatusRequest() => new(UserId, new VaultRequest { Status = new StatusQuery() });

    /// <summary>
    /// A whole login. With a wrong password the client cannot build KE3, so it sends 32 random-looking
    /// bytes instead, as an attacker would; the guess was already counted at login start.
    /// </summary>
    public VaultResponse Login(string password, LoginAction action, out byte[]? sessionKey)
    {
        sessionKey = null;
        VaultResponse started = _vault.Send(LoginStartRequest(password, out ClientLoginState state));
        if (started.ResultCase != VaultResponse.ResultOneofCase.LoginStarted)
        {
            return started;
        }

        LoginResult? local = TryFinishLocally(state, started.LoginStarted);
        byte[] ke3 = local?.KE3 ?? System.Security.Cryptography.SHA256.HashData(started.LoginStarted.Ke2.Span);
        sessionKey = local?.SessionKey;
        return _vault.Send(LoginFinishRequest(started.LoginStarted.LoginSession, ke3, action));
    }

    /// <summary>Recovers the blob; null (with the response) when the vault refuses.</summary>
    public byte[]? Recover(string password, out VaultResponse response)
    {
        response = Login(password, LoginAction.Recover, out byte[]? sessionKey);
        if (response.ResultCase != VaultResponse.ResultOneofCase.Recovered || sessionKey is null)
        {
            return null;
        }

        Assert.IsTrue(RecoveredBlobCipher.TryOpen(sessionKey, UserId.Span, response.Recovered.SealedKeyBlob.Span, out byte[] blob));
        return blob;
    }

    public VaultResponse Status() => _vault.Send(StatusRequest());

    public uint AttemptsLeft()
    {
        VaultResponse status = Status();
        return status.ResultCase == VaultResponse.ResultOneofCase.Status ? status.Status.AttemptsLeft : 0;
    }
}

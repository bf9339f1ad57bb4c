using System.Text;
using Google.Protobuf;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>A client of a <see cref="TestVault"/>: runs the OPAQUE client side and builds requests.</summary>
internal sealed class TestUser
{
    private readonly TestVault _vault;
    private readonly OpaqueClient _client;
    private ulong _requestId;

    public TestUser(TestVault vault, string name, ulong seed = 1)
    {
        _vault = vault;
        Name = name;
        UserId = ByteString.CopyFromUtf8(name);
        _client = new OpaqueClient(OpaqueConfiguration.ForTesting("HsmVault-v1"u8), new SeededRandomSource(seed));
    }

    public string Name { get; }

    public ByteString UserId { get; }

    public ClientRequest RegisterStartRequest(string password, out ClientRegistrationState state) => new()
    {
        RequestId = ++_requestId,
        RegisterStart = new RegisterStart
        {
            UserId = UserId,
            RegistrationRequest = ByteString.CopyFrom(_client.CreateRegistrationRequest(Encoding.UTF8.GetBytes(password), out state)),
        },
    };

    public ClientRequest RegisterFinishRequest(ClientRegistrationState state, RegisterStarted started, byte[] blob)
    {
        RegistrationResult result = _client.FinalizeRegistration(state, started.RegistrationResponse.Span, _vault.Hsm.AkePublicKey, UserId.Span);
        return new ClientRequest
        {
            RequestId = ++_requestId,
            RegisterFinish = new RegisterFinish
            {
                UserId = UserId,
                RegistrationSession = started.RegistrationSession,
                RegistrationRecord = ByteString.CopyFrom(result.Record),
                EncryptedKeyBlob = ByteString.CopyFrom(blob),
            },
        };
    }

    public void Register(string password, byte[] blob)
    {
        ClientResponse started = _vault.Send(RegisterStartRequest(password, out ClientRegistrationState state));
        Assert.AreEqual(ClientResponse.ResultOneofCase.RegisterStarted, started.ResultCase, started.ToString());
        ClientResponse finished = _vault.Send(RegisterFinishRequest(state, started.RegisterStarted, blob));
        Assert.AreEqual(ClientResponse.ResultOneofCase.Registered, finished.ResultCase, finished.ToString());
    }

    public ClientRequest LoginStartRequest(string password, out ClientLoginState state) => new()
    {
        RequestId = ++_requestId,
        LoginStart = new LoginStart { UserId = UserId, Ke1 = ByteString.CopyFrom(_client.GenerateKE1(Encoding.UTF8.GetBytes(password), out state)) },
    };

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

    public ClientRequest LoginFinishRequest(ByteString loginSession, byte[] ke3, LoginAction action = LoginAction.Recover) => new()
    {
        RequestId = ++_requestId,
        LoginFinish = new LoginFinish { UserId = UserId, LoginSession = loginSession, Ke3 = ByteString.CopyFrom(ke3), Action = action },
    };

    public ClientRequest StatusRequest() => new() { RequestId = ++_requestId, Status = new StatusQuery { UserId = UserId } };

    /// <summary>
    /// A whole login. With a wrong password the client cannot build KE3, so it sends 32 random-looking
    /// bytes instead, as an attacker would; the guess was already counted at login start.
    /// </summary>
    public ClientResponse Login(string password, LoginAction action, out byte[]? sessionKey)
    {
        sessionKey = null;
        ClientResponse started = _vault.Send(LoginStartRequest(password, out ClientLoginState state));
        if (started.ResultCase != ClientResponse.ResultOneofCase.LoginStarted)
        {
            return started;
        }

        LoginResult? local = TryFinishLocally(state, started.LoginStarted);
        byte[] ke3 = local?.KE3 ?? System.Security.Cryptography.SHA256.HashData(started.LoginStarted.Ke2.Span);
        sessionKey = local?.SessionKey;
        return _vault.Send(LoginFinishRequest(started.LoginStarted.LoginSession, ke3, action));
    }

    /// <summary>Recovers the blob; null (with the response) when the vault refuses.</summary>
    public byte[]? Recover(string password, out ClientResponse response)
    {
        response = Login(password, LoginAction.Recover, out byte[]? sessionKey);
        if (response.ResultCase != ClientResponse.ResultOneofCase.Recovered || sessionKey is null)
        {
            return null;
        }

        Assert.IsTrue(RecoveredBlobCipher.TryOpen(sessionKey, UserId.Span, response.Recovered.SealedKeyBlob.Span, out byte[] blob));
        return blob;
    }

    public ClientResponse Status() => _vault.Send(StatusRequest());

    public uint AttemptsLeft()
    {
        ClientResponse status = Status();
        return status.ResultCase == ClientResponse.ResultOneofCase.Status ? status.Status.AttemptsLeft : 0;
    }
}

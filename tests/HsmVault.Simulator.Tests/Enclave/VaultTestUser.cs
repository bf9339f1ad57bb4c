using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Simulator.Tests.Enclave;

/// <summary>
/// A user of a vault (an <see cref="InMemoryVaultHost"/>, or any honest host's round trip): runs the
/// OPAQUE client and, as the real client does, uploads its backup key sealed under a key derived from
/// the OPAQUE export key, so that only a successful recovery (session key, then export key) gives the key back.
/// </summary>
/// <param name="send">One request through the host and the enclave, and the opened answer.</param>
/// <param name="akePublicKey">The vault's AKE public key, the OPAQUE server identity.</param>
/// <param name="name">The user id.</param>
internal sealed class VaultTestUser(Func<UserRequest, VaultResponse> send, Func<byte[]> akePublicKey, string name)
{
    private static readonly OpaqueConfiguration Configuration = OpaqueConfiguration.ForTesting("HsmVault-v1"u8);
    private readonly OpaqueClient _client = new(Configuration, SystemRandomSource.Instance);

    public VaultTestUser(InMemoryVaultHost host, string name)
        : this(host.Send, () => host.AkePublicKey, name)
    {
    }

    public ByteString UserId { get; } = ByteString.CopyFromUtf8(name);

    public void Register(string password, ReadOnlySpan<byte> backupKey)
    {
        byte[] request = _client.CreateRegistrationRequest(Encoding.UTF8.GetBytes(password), out ClientRegistrationState state);
        VaultResponse started = send(new UserRequest(UserId, new VaultRequest
        {
            RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(request) },
        }));
        Assert.AreEqual(VaultResponse.ResultOneofCase.RegisterStarted, started.ResultCase, started.ToString());

        RegistrationResult result = _client.FinalizeRegistration(state, started.RegisterStarted.RegistrationResponse.Span, akePublicKey(), UserId.Span);
        VaultResponse finished = send(new UserRequest(UserId, new VaultRequest
        {
            RegisterFinish = new RegisterFinish
            {
                RegistrationSession = started.RegisterStarted.RegistrationSession,
                RegistrationRecord = ByteString.CopyFrom(result.Record),
                EncryptedKeyBlob = ByteString.CopyFrom(SealBackupKey(result.ExportKey, UserId.Span, backupKey)),
            },
        }));
        CryptographicOperations.ZeroMemory(result.ExportKey);
        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, finished.ResultCase, finished.ToString());
    }

    public UserRequest LoginStartRequest(string password, out ClientLoginState state) => new(UserId, new VaultRequest
    {
        LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(_client.GenerateKE1(Encoding.UTF8.GetBytes(password), out state)) },
    });

    /// <summary>
    /// A whole login for recovery. With a wrong password the client cannot build KE3 and sends a
    /// stand-in, as an attacker would. Returns the backup key on success, else null.
    /// </summary>
    public byte[]? Recover(string password, out VaultResponse started, out VaultResponse finished)
    {
        started = send(LoginStartRequest(password, out ClientLoginState state));
        if (started.ResultCase != VaultResponse.ResultOneofCase.LoginStarted)
        {
            finished = started;
            return null;
        }

        LoginResult? local;
        try
        {
            local = _client.GenerateKE3(state, started.LoginStarted.Ke2.Span, akePublicKey(), UserId.Span);
        }
        catch (OpaqueAuthenticationException)
        {
            local = null;
        }

        byte[] ke3 = local?.KE3 ?? SHA256.HashData(started.LoginStarted.Ke2.Span);
        finished = send(new UserRequest(UserId, new VaultRequest
        {
            LoginFinish = new LoginFinish { LoginSession = started.LoginStarted.LoginSession, Ke3 = ByteString.CopyFrom(ke3), Action = LoginAction.Recover },
        }));
        if (local is null || finished.ResultCase != VaultResponse.ResultOneofCase.Recovered)
        {
            return null;
        }

        Assert.IsTrue(RecoveredBlobCipher.TryOpen(local.SessionKey, UserId.Span, finished.Recovered.SealedKeyBlob.Span, out byte[] blob), "the recovered blob opens with the session key");
        byte[]? backupKey = OpenBackupKey(local.ExportKey, UserId.Span, blob);
        CryptographicOperations.ZeroMemory(local.SessionKey);
        CryptographicOperations.ZeroMemory(local.ExportKey);
        return backupKey;
    }

    public byte[]? Recover(string password) => Recover(password, out _, out _);

    public VaultResponse Status() => send(new UserRequest(UserId, new VaultRequest { Status = new StatusQuery() }));

    /// <summary>The client's blob format (docs/CLIENT.md): 0x01 || nonce || AES-256-GCM(K) || tag, key HKDF(export key), AAD 0x01 || user id.</summary>
    private static byte[] SealBackupKey(byte[] exportKey, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> backupKey)
    {
        byte[] blob = new byte[1 + 12 + backupKey.Length + 16];
        blob[0] = 0x01;
        RandomNumberGenerator.Fill(blob.AsSpan(1, 12));
        byte[] key = HKDF.DeriveKey(HashAlgorithmName.SHA256, exportKey, 32, [], "HsmVault-v1 backup key blob"u8.ToArray());
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(blob.AsSpan(1, 12), backupKey, blob.AsSpan(13, backupKey.Length), blob.AsSpan(13 + backupKey.Length), [0x01, .. userId]);
        CryptographicOperations.ZeroMemory(key);
        return blob;
    }

    private static byte[]? OpenBackupKey(byte[] exportKey, ReadOnlySpan<byte> userId, byte[] blob)
    {
        if (blob.Length < 29 || blob[0] != 0x01)
        {
            return null;
        }

        byte[] backupKey = new byte[blob.Length - 29];
        byte[] key = HKDF.DeriveKey(HashAlgorithmName.SHA256, exportKey, 32, [], "HsmVault-v1 backup key blob"u8.ToArray());
        try
        {
            using var aes = new AesGcm(key, 16);
            aes.Decrypt(blob.AsSpan(1, 12), blob.AsSpan(13, backupKey.Length), blob.AsSpan(13 + backupKey.Length), backupKey, [0x01, .. userId]);
            return backupKey;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }
}

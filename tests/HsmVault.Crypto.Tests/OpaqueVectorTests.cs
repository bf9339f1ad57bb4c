using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Opaque;
using HsmVault.Crypto.Tests.Vectors;

namespace HsmVault.Crypto.Tests;

[TestClass]
public sealed class OpaqueVectorTests
{
    public static IEnumerable<object[]> Cases =>
    [
        ["without identities", Rfc9807Vectors.WithoutIdentities],
        ["with identities", Rfc9807Vectors.WithIdentities],
    ];

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void Registration_and_login_reproduce_every_RFC_9807_P256_output(string name, IReadOnlyDictionary<string, string> v)
    {
        var configuration = new OpaqueConfiguration(Convert.FromHexString(Rfc9807Vectors.Context), IdentityKsf.Instance);
        var serverId = Bytes(v, "server_identity");
        var clientId = Bytes(v, "client_identity");
        var credentialId = Bytes(v, "credential_identifier");
        var password = Bytes(v, "password");
        var akeKey = new SoftwareAkeKey(Bytes(v, "server_private_key"));
        Assert.AreEqual(v["server_public_key"], Hex(akeKey.PublicKey), name);
        var oprfSeed = new SoftwareOprfSeed(Bytes(v, "oprf_seed"));

        var registrationClient = new OpaqueClient(configuration, new ReplayRandomSource(v["blind_registration"], v["envelope_nonce"]));
        var registrationServer = new OpaqueServer(configuration, akeKey, oprfSeed, new ReplayRandomSource());
        var request = registrationClient.CreateRegistrationRequest(password, out var registrationState);
        Assert.AreEqual(v["registration_request"], Hex(request), "registration_request");
        var response = registrationServer.CreateRegistrationResponse(request, credentialId);
        Assert.AreEqual(v["registration_response"], Hex(response), "registration_response");
        var registration = registrationClient.FinalizeRegistration(registrationState, response, serverId, clientId);
        Assert.AreEqual(v["registration_upload"], Hex(registration.Record), "registration_upload");
        Assert.AreEqual(v["export_key"], Hex(registration.ExportKey), "export_key (registration)");

        var record = RegistrationRecord.Parse(registration.Record);
        Assert.AreEqual(v["client_public_key"], Hex(record.ClientPublicKey), "client_public_key");
        Assert.AreEqual(v["masking_key"], Hex(record.MaskingKey), "masking_key");
        Assert.AreEqual(v["envelope"], Hex(record.Envelope), "envelope");

        var client = new OpaqueClient(configuration, new ReplayRandomSource(v["blind_login"], v["client_nonce"], v["client_keyshare_seed"]));
        var server = new OpaqueServer(configuration, akeKey, oprfSeed, new ReplayRandomSource(v["masking_nonce"], v["server_nonce"], v["server_keyshare_seed"]));
        var ke1 = client.GenerateKE1(password, out var loginState);
        Assert.AreEqual(v["KE1"], Hex(ke1), "KE1");
        var ke2 = server.GenerateKE2(ke1, record, credentialId, serverId, clientId, out var serverState);
        Assert.AreEqual(v["KE2"], Hex(ke2), "KE2");
        var login = client.GenerateKE3(loginState, ke2, serverId, clientId);
        Assert.AreEqual(v["KE3"], Hex(login.KE3), "KE3");
        Assert.AreEqual(v["session_key"], Hex(login.SessionKey), "session_key (client)");
        Assert.AreEqual(v["export_key"], Hex(login.ExportKey), "export_key (login)");
        Assert.AreEqual(v["server_public_key"], Hex(login.ServerPublicKey), "server_public_key (login)");
        var serverSessionKey = server.ServerFinish(serverState, login.KE3);
        Assert.AreEqual(v["session_key"], Hex(serverSessionKey), "session_key (server)");
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void Key_schedule_reproduces_every_RFC_9807_P256_intermediate(string name, IReadOnlyDictionary<string, string> v)
    {
        var oprfKey = OpaqueKeySchedule.DeriveOprfKey(new SoftwareOprfSeed(Bytes(v, "oprf_seed")), Bytes(v, "credential_identifier"));
        Assert.AreEqual(v["oprf_key"], Hex(Scalar(oprfKey)), name + ": oprf_key");

        var blind = P256Group.DecodeScalar(Bytes(v, "blind_registration"), "blind");
        var evaluated = Convert.FromHexString(v["registration_response"])[..33];
        var oprfOutput = Oprf.P256Sha256Oprf.Finalize(Bytes(v, "password"), blind, evaluated);
        var randomizedPassword = OpaqueKeySchedule.RandomizePassword(oprfOutput, IdentityKsf.Instance);
        Assert.AreEqual(v["randomized_password"], Hex(randomizedPassword), "randomized_password");
        Assert.AreEqual(v["masking_key"], Hex(OpaqueKeySchedule.MaskingKey(randomizedPassword)), "masking_key");

        var (authKey, exportKey, seed) = OpaqueKeySchedule.EnvelopeKeys(randomizedPassword, Bytes(v, "envelope_nonce"));
        Assert.AreEqual(v["auth_key"], Hex(authKey), "auth_key");
        Assert.AreEqual(v["export_key"], Hex(exportKey), "export_key");
        var clientPrivateKey = OpaqueKeySchedule.DeriveDiffieHellmanPrivateKey(seed);
        Assert.AreEqual(v["client_public_key"], Hex(OpaqueKeySchedule.PublicKeyOf(clientPrivateKey)), "client_public_key");

        // Rebuild the server's 3DH inputs from the vector's keys and messages.
        var ke1 = Convert.FromHexString(v["KE1"]);
        var ke2 = Convert.FromHexString(v["KE2"]);
        var serverSecret = OpaqueKeySchedule.DeriveDiffieHellmanPrivateKey(Bytes(v, "server_keyshare_seed"));
        var clientKeyshare = ke1[65..];
        byte[] ikm =
        [
            .. P256Group.Multiply(Scalar(serverSecret), clientKeyshare),
            .. P256Group.Multiply(Bytes(v, "server_private_key"), clientKeyshare),
            .. P256Group.Multiply(Scalar(serverSecret), Bytes(v, "client_public_key")),
        ];
        var serverId = v.ContainsKey("server_identity") ? Bytes(v, "server_identity") : Bytes(v, "server_public_key");
        var clientId = v.ContainsKey("client_identity") ? Bytes(v, "client_identity") : Bytes(v, "client_public_key");
        var preamble = OpaqueKeySchedule.Preamble(Convert.FromHexString(Rfc9807Vectors.Context), clientId, ke1, serverId, ke2[..OpaqueSizes.CredentialResponse], Bytes(v, "server_nonce"), ke2[(OpaqueSizes.CredentialResponse + 32)..(OpaqueSizes.CredentialResponse + 65)]);
        var keys = OpaqueKeySchedule.DeriveKeys(ikm, preamble);
        Assert.AreEqual(v["handshake_secret"], Hex(keys.HandshakeSecret), "handshake_secret");
        Assert.AreEqual(v["server_mac_key"], Hex(keys.ServerMacKey), "server_mac_key");
        Assert.AreEqual(v["client_mac_key"], Hex(keys.ClientMacKey), "client_mac_key");
        Assert.AreEqual(v["session_key"], Hex(keys.SessionKey), "session_key");
    }

    private static byte[] Bytes(IReadOnlyDictionary<string, string> v, string key) =>
        v.TryGetValue(key, out var hex) ? Convert.FromHexString(hex) : [];

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    private static byte[] Scalar(U256 value)
    {
        var bytes = new byte[32];
        value.WriteBigEndian(bytes);
        return bytes;
    }
}

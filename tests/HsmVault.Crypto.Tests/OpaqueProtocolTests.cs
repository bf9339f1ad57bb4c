using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Opaque;

namespace HsmVault.Crypto.Tests;

[TestClass]
public sealed class OpaqueProtocolTests
{
    private static readonly byte[] CredentialId = "alice@example"u8.ToArray();
    private static readonly byte[] Password = "hunter2 but longer"u8.ToArray();

    private sealed record Fleet(OpaqueServer Server, OpaqueClient Client, RegistrationRecord Record, byte[] ExportKey);

    private static Fleet Register(OpaqueConfiguration configuration, IRandomSource random, byte[] password, byte[] serverId, byte[] clientId)
    {
        var seed = new byte[32];
        random.Fill(seed);
        var oprfSeed = new byte[32];
        random.Fill(oprfSeed);
        var server = new OpaqueServer(configuration, SoftwareAkeKey.Derive(seed), new SoftwareOprfSeed(oprfSeed), random);
        var client = new OpaqueClient(configuration, random);
        var request = client.CreateRegistrationRequest(password, out var state);
        var response = server.CreateRegistrationResponse(request, CredentialId);
        var result = client.FinalizeRegistration(state, response, serverId, clientId);
        return new Fleet(server, client, RegistrationRecord.Parse(result.Record), result.ExportKey);
    }

    private static Fleet Register(int seed) =>
        Register(OpaqueConfiguration.ForTesting("test"u8), new SeededRandomSource(seed), Password, [], []);

    [TestMethod]
    public void Random_logins_agree_on_session_and_export_keys()
    {
        var random = new SeededRandomSource(1);
        for (int i = 0; i < 24; i++)
        {
            var password = new byte[1 + (i * 7 % 60)];
            random.Fill(password);
            byte[] serverId = i % 3 == 0 ? [] : [.. "server-"u8, (byte)i];
            byte[] clientId = i % 2 == 0 ? [] : [.. "client-"u8, (byte)i];
            var fleet = Register(OpaqueConfiguration.ForTesting([(byte)i]), random, password, serverId, clientId);
            var ke1 = fleet.Client.GenerateKE1(password, out var clientState);
            var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, serverId, clientId, out var serverState);
            var login = fleet.Client.GenerateKE3(clientState, ke2, serverId, clientId);
            var serverKey = fleet.Server.ServerFinish(serverState, login.KE3);
            CollectionAssert.AreEqual(login.SessionKey, serverKey, $"session key #{i}");
            CollectionAssert.AreEqual(fleet.ExportKey, login.ExportKey, $"export key #{i}");
        }
    }

    [TestMethod]
    public void Login_with_argon2id_second_recommended_and_scrypt_round_trips()
    {
        foreach (IKeyStretchingFunction ksf in new IKeyStretchingFunction[] { Argon2idKsf.SecondRecommended, ScryptKsf.Recommended })
        {
            var configuration = new OpaqueConfiguration("ksf"u8.ToArray(), ksf);
            var fleet = Register(configuration, new SeededRandomSource(ksf.Name.Length), Password, [], []);
            var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
            var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, [], [], out var serverState);
            var login = fleet.Client.GenerateKE3(clientState, ke2, [], []);
            CollectionAssert.AreEqual(login.SessionKey, fleet.Server.ServerFinish(serverState, login.KE3), ksf.Name);
            CollectionAssert.AreEqual(fleet.ExportKey, login.ExportKey, ksf.Name);
        }
    }

    [TestMethod]
    public void Key_stretching_functions_differ_from_identity_and_are_deterministic()
    {
        var input = new byte[32];
        input[0] = 1;
        var scrypt = ScryptKsf.Recommended.Stretch(input);
        CollectionAssert.AreEqual(scrypt, ScryptKsf.Recommended.Stretch(input));
        CollectionAssert.AreNotEqual(input, scrypt);
        var argon = new Argon2idKsf(1, 1, 64).Stretch(input);
        CollectionAssert.AreNotEqual(input, argon);
        Assert.AreEqual(32, argon.Length);
        Assert.AreEqual("argon2id-t1-p4-m2097152", Argon2idKsf.FirstRecommended.Name);
        Assert.AreEqual("argon2id-t3-p4-m65536", Argon2idKsf.SecondRecommended.Name);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ScryptKsf(1000, 8, 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Argon2idKsf(0, 4, 65536));
    }

    [TestMethod]
    public void Wrong_password_fails_on_the_client_with_an_authentication_error()
    {
        var fleet = Register(2);
        var ke1 = fleet.Client.GenerateKE1("wrong password"u8, out var clientState);
        var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, [], [], out _);
        Assert.ThrowsExactly<OpaqueAuthenticationException>(() => fleet.Client.GenerateKE3(clientState, ke2, [], []));
    }

    [TestMethod]
    public void Forged_or_tampered_KE3_fails_on_the_server()
    {
        var fleet = Register(3);
        var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
        var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, [], [], out var serverState);
        var login = fleet.Client.GenerateKE3(clientState, ke2, [], []);
        var tampered = (byte[])login.KE3.Clone();
        tampered[5] ^= 0x40;
        Assert.ThrowsExactly<OpaqueAuthenticationException>(() => fleet.Server.ServerFinish(serverState, tampered));
        Assert.ThrowsExactly<OpaqueAuthenticationException>(() => fleet.Server.ServerFinish(serverState, new byte[32]));
        var state = ServerLoginState.FromBytes(serverState.ToBytes());
        CollectionAssert.AreEqual(login.SessionKey, fleet.Server.ServerFinish(state, login.KE3), "the untampered KE3 still verifies after a state round trip");
    }

    public static IEnumerable<object[]> Ke2Regions =>
    [
        ["masking nonce", 33, 32],
        ["masked response", 65, 97],
        ["server nonce", 162, 32],
        ["server MAC", 227, 32],
    ];

    [TestMethod]
    [DynamicData(nameof(Ke2Regions))]
    public void Tampering_with_any_byte_region_of_KE2_fails_authentication(string region, int offset, int length)
    {
        var fleet = Register(4);
        foreach (var position in new[] { offset, offset + (length / 2), offset + length - 1 })
        {
            var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
            var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, [], [], out _);
            ke2[position] ^= 0x01;
            Assert.ThrowsExactly<OpaqueAuthenticationException>(() => fleet.Client.GenerateKE3(clientState, ke2, [], []), $"{region} byte {position}");
        }
    }

    [TestMethod]
    [DataRow("evaluated element", 0)]
    [DataRow("server keyshare", 194)]
    public void Replacing_a_KE2_element_with_another_valid_point_fails_authentication(string region, int offset)
    {
        var fleet = Register(5);
        var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
        var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, [], [], out _);
        P256Group.MultiplyGenerator(P256Group.RandomScalar(new SeededRandomSource(offset))).CopyTo(ke2, offset);
        Assert.ThrowsExactly<OpaqueAuthenticationException>(() => fleet.Client.GenerateKE3(clientState, ke2, [], []), region);
    }

    [TestMethod]
    [DataRow("ke2.evaluatedMessage", 0)]
    [DataRow("ke2.serverPublicKeyshare", 194)]
    public void An_identity_or_off_curve_element_in_KE2_is_a_format_error_naming_the_field(string field, int offset)
    {
        var fleet = Register(6);
        var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
        var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, [], [], out _);
        Array.Clear(ke2, offset, 33);
        var e = Assert.ThrowsExactly<CryptoFormatException>(() => fleet.Client.GenerateKE3(clientState, ke2, [], []));
        Assert.AreEqual(field, e.ParamName);
    }

    [TestMethod]
    public void Tampered_envelope_or_masking_key_in_the_record_fails_authentication()
    {
        var fleet = Register(7);
        foreach (var (name, position) in new[] { ("envelope nonce", 33 + 32), ("envelope tag", 129 - 1), ("masking key", 33 + 5) })
        {
            var bytes = fleet.Record.ToBytes();
            bytes[position] ^= 0x80;
            var record = RegistrationRecord.Parse(bytes);
            var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
            var ke2 = fleet.Server.GenerateKE2(ke1, record, CredentialId, [], [], out _);
            Assert.ThrowsExactly<OpaqueAuthenticationException>(() => fleet.Client.GenerateKE3(clientState, ke2, [], []), name);
        }
    }

    [TestMethod]
    public void Mismatched_identities_fail_authentication()
    {
        var fleet = Register(8);
        var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
        var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, "other-server"u8, [], out _);
        Assert.ThrowsExactly<OpaqueAuthenticationException>(() => fleet.Client.GenerateKE3(clientState, ke2, [], []));
    }

    [TestMethod]
    public void A_fake_record_login_fails_like_a_wrong_password_with_a_KE2_of_the_same_length()
    {
        var fleet = Register(9);
        var fakeSeed = new byte[32];
        fakeSeed[0] = 42;
        var fake = RegistrationRecord.CreateFake(fakeSeed);
        CollectionAssert.AreEqual(fake.ToBytes(), RegistrationRecord.CreateFake(fakeSeed).ToBytes(), "the fake is deterministic per seed");
        CollectionAssert.AreEqual(new byte[64], fake.Envelope);
        var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
        var ke2 = fleet.Server.GenerateKE2(ke1, fake, CredentialId, [], [], out _);
        var real = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, [], [], out _);
        Assert.AreEqual(real.Length, ke2.Length);
        Assert.ThrowsExactly<OpaqueAuthenticationException>(() => fleet.Client.GenerateKE3(clientState, ke2, [], []));
        Assert.ThrowsExactly<CryptoFormatException>(() => RegistrationRecord.CreateFake(new byte[31]));
    }

    [TestMethod]
    public void Truncated_and_oversized_messages_are_format_errors_naming_the_message()
    {
        var fleet = Register(10);
        var request = fleet.Client.CreateRegistrationRequest(Password, out var registrationState);
        var response = fleet.Server.CreateRegistrationResponse(request, CredentialId);
        var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
        var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, [], [], out var serverState);

        AssertFormat("registrationRequest", () => fleet.Server.CreateRegistrationResponse(request[..32], CredentialId));
        AssertFormat("registrationRequest", () => fleet.Server.CreateRegistrationResponse([.. request, 0], CredentialId));
        AssertFormat("registrationResponse", () => fleet.Client.FinalizeRegistration(registrationState, response[..65], [], []));
        AssertFormat("ke1", () => fleet.Server.GenerateKE2(ke1[..97], fleet.Record, CredentialId, [], [], out _));
        AssertFormat("ke1", () => fleet.Server.GenerateKE2([.. ke1, 0], fleet.Record, CredentialId, [], [], out _));
        AssertFormat("ke2", () => fleet.Client.GenerateKE3(clientState, ke2[..258], [], []));
        AssertFormat("ke2", () => fleet.Client.GenerateKE3(clientState, [.. ke2, 0], [], []));
        AssertFormat("ke3", () => fleet.Server.ServerFinish(serverState, new byte[31]));
        AssertFormat("ke3", () => fleet.Server.ServerFinish(serverState, new byte[33]));
        AssertFormat("registrationRecord", () => RegistrationRecord.Parse(new byte[128]));
        AssertFormat("serverLoginState", () => ServerLoginState.FromBytes(new byte[63]));
        AssertFormat("password", () => fleet.Client.GenerateKE1([], out _));
    }

    [TestMethod]
    public void Invalid_points_in_KE1_and_the_record_are_format_errors_naming_the_field()
    {
        var fleet = Register(11);
        var ke1 = fleet.Client.GenerateKE1(Password, out _);
        var identity = (byte[])ke1.Clone();
        Array.Clear(identity, 0, 33);
        AssertFormat("ke1.blindedMessage", () => fleet.Server.GenerateKE2(identity, fleet.Record, CredentialId, [], [], out _));
        var offCurve = (byte[])ke1.Clone();
        offCurve[65] = 0x02;
        Array.Clear(offCurve, 66, 32);
        offCurve[97] = 1; // x = 1 is not on P-256 (checked against BouncyCastle)
        AssertFormat("ke1.clientPublicKeyshare", () => fleet.Server.GenerateKE2(offCurve, fleet.Record, CredentialId, [], [], out _));
        var record = fleet.Record.ToBytes();
        Array.Clear(record, 1, 32);
        record[32] = 1;
        AssertFormat("registrationRecord.clientPublicKey", () => RegistrationRecord.Parse(record));
        AssertFormat("privateScalar", () => new SoftwareAkeKey(new byte[32]));
        AssertFormat("seed", () => new SoftwareOprfSeed(new byte[16]));
    }

    [TestMethod]
    public void Disposed_states_refuse_further_use()
    {
        var fleet = Register(12);
        var ke1 = fleet.Client.GenerateKE1(Password, out var clientState);
        var ke2 = fleet.Server.GenerateKE2(ke1, fleet.Record, CredentialId, [], [], out var serverState);
        clientState.Dispose();
        serverState.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => fleet.Client.GenerateKE3(clientState, ke2, [], []));
        Assert.ThrowsExactly<ObjectDisposedException>(() => fleet.Server.ServerFinish(serverState, new byte[32]));
    }

    [TestMethod]
    public void An_external_AKE_key_gives_the_same_KE2_as_the_software_key()
    {
        var configuration = OpaqueConfiguration.ForTesting("hsm"u8);
        var softwareKey = SoftwareAkeKey.Derive(new byte[32]);
        var oprfSeed = new SoftwareOprfSeed(new byte[32]);
        var client = new OpaqueClient(configuration, new SeededRandomSource(13));
        var request = client.CreateRegistrationRequest(Password, out var registrationState);
        var response = new OpaqueServer(configuration, softwareKey, oprfSeed, new SeededRandomSource(14)).CreateRegistrationResponse(request, CredentialId);
        var record = RegistrationRecord.Parse(client.FinalizeRegistration(registrationState, response, [], []).Record);
        var ke1 = client.GenerateKE1(Password, out var clientState);

        var viaSoftware = new OpaqueServer(configuration, softwareKey, oprfSeed, new SeededRandomSource(15)).GenerateKE2(ke1, record, CredentialId, [], [], out _);
        var viaExternal = new OpaqueServer(configuration, new ExternalAkeKey(softwareKey), oprfSeed, new SeededRandomSource(15)).GenerateKE2(ke1, record, CredentialId, [], [], out var state);
        CollectionAssert.AreEqual(viaSoftware, viaExternal);
        var login = client.GenerateKE3(clientState, viaExternal, [], []);
        CollectionAssert.AreEqual(login.SessionKey, new OpaqueServer(configuration, softwareKey, oprfSeed, new SeededRandomSource(16)).ServerFinish(state, login.KE3));
    }

    /// <summary>Stands in for an HSM-held key: only the public interface is visible.</summary>
    private sealed class ExternalAkeKey(IServerAkeKey inner) : IServerAkeKey
    {
        public byte[] PublicKey => inner.PublicKey;

        public byte[] DiffieHellman(ReadOnlySpan<byte> peerPoint) => inner.DiffieHellman(peerPoint);
    }

    private static void AssertFormat(string field, Action action)
    {
        var e = Assert.ThrowsExactly<CryptoFormatException>(action);
        Assert.AreEqual(field, e.ParamName, e.Message);
    }
}

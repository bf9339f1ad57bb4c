using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using HsmVault.Crypto;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Hpke;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Opaque;
using Org.BouncyCastle.Crypto.EC;
using Org.BouncyCastle.Math;
using BcPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace HsmVault.Benchmarks;

/// <summary>
/// OPAQUE server and client operations with the identity KSF (so the numbers measure the
/// protocol, not the password hash), P-256 ECDH through OpenSSL as the machine's reference, and
/// the regular scalar multiplication against BouncyCastle's default multiplier.
/// </summary>
public class CryptoBenchmarks
{
    private static readonly byte[] Password = "correct horse battery staple"u8.ToArray();
    private static readonly byte[] CredentialId = "user-1234"u8.ToArray();

    private OpaqueServer _server = null!;
    private OpaqueClient _client = null!;
    private RegistrationRecord _record = null!;
    private byte[] _ke1 = null!;
    private byte[] _ke3 = null!;
    private ServerLoginState _serverState = null!;
    private ECDiffieHellman _ecdhA = null!;
    private ECDiffieHellmanPublicKey _ecdhPeer = null!;
    private byte[] _scalar = null!;
    private byte[] _point = null!;
    private BcPoint _bcPoint = null!;
    private BigInteger _bcScalar = null!;
    private P256HpkeKeyPair _channelKey = null!;
    private byte[] _enc = null!;
    private byte[] _sealedKe1 = null!;
    private static bool s_warmed;

    [GlobalSetup]
    public void Setup()
    {
        var random = SystemRandomSource.Instance;
        var configuration = OpaqueConfiguration.ForTesting("HsmVault-benchmark"u8);
        var seed = new byte[32];
        random.Fill(seed);
        var oprfSeed = new byte[32];
        random.Fill(oprfSeed);
        _server = new OpaqueServer(configuration, SoftwareAkeKey.Derive(seed), new SoftwareOprfSeed(oprfSeed), random);
        _client = new OpaqueClient(configuration, random);

        var request = _client.CreateRegistrationRequest(Password, out var registrationState);
        var response = _server.CreateRegistrationResponse(request, CredentialId);
        _record = RegistrationRecord.Parse(_client.FinalizeRegistration(registrationState, response, default, default).Record);

        _ke1 = _client.GenerateKE1(Password, out var loginState);
        var ke2 = _server.GenerateKE2(_ke1, _record, CredentialId, default, default, out _serverState);
        _ke3 = _client.GenerateKE3(loginState, ke2, default, default).KE3;

        _channelKey = P256HpkeKeyPair.Derive(seed);
        using (VaultChannel.SealRequest(_channelKey.PublicKey, CredentialId, _ke1, random, out _enc, out _sealedKe1))
        {
        }

        _ecdhA = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        using var ecdhB = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        _ecdhPeer = ecdhB.PublicKey;

        _scalar = P256Group.RandomScalar(random);
        _point = P256Group.MultiplyGenerator(P256Group.RandomScalar(random));
        var curve = CustomNamedCurves.GetByName("P-256");
        _bcPoint = curve.Curve.DecodePoint(_point);
        _bcScalar = new BigInteger(1, _scalar);

        // Drive the hot paths through tiered compilation before the first measured benchmark,
        // so the first one (KE2) is not measured partly on unoptimised code.
        if (!s_warmed)
        {
            for (int i = 0; i < 300; i++)
            {
                ServerKe2();
                ServerKe2WithChannel();
                ClientLogin();
            }

            s_warmed = true;
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _serverState.Dispose();
        _ecdhPeer.Dispose();
        _ecdhA.Dispose();
    }

    [Benchmark(Description = "server KE2")]
    public byte[] ServerKe2()
    {
        var ke2 = _server.GenerateKE2(_ke1, _record, CredentialId, default, default, out var state);
        state.Dispose();
        return ke2;
    }

    /// <summary>What the enclave does per LoginStart with the channel: open the request (one DH), KE2, seal the answer.</summary>
    [Benchmark(Description = "server KE2 through the channel")]
    public byte[] ServerKe2WithChannel()
    {
        if (!VaultChannel.TryOpenRequest(_channelKey, CredentialId, _enc, _sealedKe1, out byte[] ke1, out ChannelResponder? responder))
        {
            throw new InvalidOperationException("the benchmark request does not open");
        }

        using (responder!)
        {
            var ke2 = _server.GenerateKE2(ke1, _record, CredentialId, default, default, out var state);
            state.Dispose();
            return responder!.Seal(ke2, SystemRandomSource.Instance);
        }
    }

    [Benchmark(Description = "server finish (KE3 check)")]
    public byte[] ServerFinish() => _server.ServerFinish(_serverState, _ke3);

    [Benchmark(Description = "client registration")]
    public byte[] ClientRegistration()
    {
        var request = _client.CreateRegistrationRequest(Password, out var state);
        var response = _server.CreateRegistrationResponse(request, CredentialId);
        return _client.FinalizeRegistration(state, response, default, default).Record;
    }

    [Benchmark(Description = "client login")]
    public byte[] ClientLogin()
    {
        var ke1 = _client.GenerateKE1(Password, out var state);
        var ke2 = _server.GenerateKE2(ke1, _record, CredentialId, default, default, out var serverState);
        serverState.Dispose();
        return _client.GenerateKE3(state, ke2, default, default).KE3;
    }

    [Benchmark(Description = "OpenSSL ECDH P-256")]
    public byte[] OpenSslEcdh() => _ecdhA.DeriveRawSecretAgreement(_ecdhPeer);

    [Benchmark(Description = "regular k*P (HsmVault)")]
    public byte[] RegularMultiply() => P256Group.Multiply(_scalar, _point);

    [Benchmark(Description = "regular k*G (HsmVault)")]
    public byte[] RegularMultiplyGenerator() => P256Group.MultiplyGenerator(_scalar);

    [Benchmark(Description = "BouncyCastle k*P (default)")]
    public byte[] BouncyCastleMultiply() => _bcPoint.Multiply(_bcScalar).GetEncoded(true);
}

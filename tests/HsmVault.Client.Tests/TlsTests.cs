using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using static HsmVault.Client.Tests.TestClients;

namespace HsmVault.Client.Tests;

[TestClass]
public sealed class TlsTests
{
    [TestMethod]
    public async Task Tls_with_the_pinned_host_certificate_registers_and_recovers()
    {
        using X509Certificate2 certificate = SelfSigned("localhost");
        await using var vault = new FakeVault(tlsCertificate: certificate);
        await using var client = TlsClient(vault, trusting: certificate);

        Assert.IsInstanceOfType<UserRegistered>(await client.RegisterAsync("alice", Password("pw"), Key(5)));
        var recovered = Assert.IsInstanceOfType<KeyRecovered>(await client.RecoverAsync("alice", Password("pw")));

        CollectionAssert.AreEqual(Key(5), recovered.Key);
    }

    [TestMethod]
    public async Task Tls_to_an_untrusted_certificate_is_unavailable_and_sends_nothing()
    {
        using X509Certificate2 certificate = SelfSigned("localhost");
        using X509Certificate2 other = SelfSigned("localhost");
        await using var vault = new FakeVault(tlsCertificate: certificate);
        await using var client = TlsClient(vault, trusting: other);

        var unavailable = Assert.IsInstanceOfType<Unavailable>(await client.RecoverAsync("alice", Password("pw")));

        StringAssert.Contains(unavailable.Detail, "TLS handshake");
        Assert.AreEqual(0, vault.LoginStartCount);
    }

    [TestMethod]
    public async Task Tls_to_a_certificate_for_another_name_is_unavailable()
    {
        using X509Certificate2 certificate = SelfSigned("vault.example");
        await using var vault = new FakeVault(tlsCertificate: certificate);
        await using var client = TlsClient(vault, trusting: certificate);

        Assert.IsInstanceOfType<Unavailable>(await client.StatusAsync("alice"));
    }

    // A client of the fake vault over TLS, expecting the name "localhost" and trusting only
    // the given certificate.
    private static VaultClient TlsClient(FakeVault vault, X509Certificate2 trusting) => new(OptionsFor(vault) with
    {
        UseTls = true,
        TlsServerName = "localhost",
        TlsTrustedCertificate = X509CertificateLoader.LoadCertificate(trusting.RawData),
    });

    private static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using X509Certificate2 created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }
}

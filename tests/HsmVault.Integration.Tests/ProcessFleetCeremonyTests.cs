using System.Security.Cryptography;
using System.Text;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.Deployment;
using HsmVault.Testing;

namespace HsmVault.Integration.Tests;

/// <summary>
/// The process fleet provisioned by the deployment ceremony (not the TEST-ONLY clone): three simulators on
/// three SoftHSM2 tokens that got the fleet keys by key wrap, three hosts; a user registered through one host
/// recovers through another, and the evidence the ceremony wrote names exactly these HSMs and keys.
/// </summary>
[TestClass]
public sealed class ProcessFleetCeremonyTests
{
    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public async Task A_fleet_deployed_by_the_ceremony_serves_and_its_evidence_verifies()
    {
        if (Environment.GetEnvironmentVariable(ProcessFleet.ProvisioningVariable) == "clone")
        {
            Assert.Inconclusive($"{ProcessFleet.ProvisioningVariable}=clone asks for the TEST-ONLY clone.");
        }

        await using ProcessFleet fleet = await ProcessFleet.StartAsync(size: 3);
        Assert.AreEqual("ceremony", fleet.Provisioning);

        byte[] manifestBytes = File.ReadAllBytes(Path.Combine(fleet.DeploymentEvidenceDirectory, DeploymentEvidence.ManifestFile));
        DeploymentManifest manifest = DeploymentManifest.Parse(manifestBytes);
        CollectionAssert.AreEqual(fleet.FleetKeys.Digest, manifest.FleetKeysSha256, "every simulator serves the fleet-key set the manifest states");
        Assert.IsEmpty(manifest.PolicyProblems());
        for (int i = 0; i < fleet.Size; i++)
        {
            DeploymentSignature signature = DeploymentSignature.Parse(
                File.ReadAllText(Path.Combine(fleet.DeploymentEvidenceDirectory, DeploymentEvidence.SignatureFile(i))), DeploymentEvidence.SignatureFile(i));
            CollectionAssert.AreEqual(manifest.Hsms[i].IdentityPublicKey, signature.IdentityPublicKey);
            Assert.IsTrue(signature.Verifies(manifestBytes), $"hsm-{i}'s signature");
            Assert.Contains($"identity key {Convert.ToHexStringLower(manifest.Hsms[i].IdentityPublicKey)}", fleet.Simulator(i)!.Output, $"simulator {i} serves the identity key the manifest lists at {i}");
        }

        byte[] key = RandomNumberGenerator.GetBytes(32);
        static byte[] Password() => Encoding.UTF8.GetBytes("correct horse");
        await using (VaultClient first = new(fleet.ClientOptions(0, IdentityKsf.Instance)))
        {
            VaultOutcome registered = await RetryAsync(() => first.RegisterAsync("alice", Password(), key));
            Assert.IsInstanceOfType<UserRegistered>(registered, registered.Describe());
        }

        await using VaultClient other = new(fleet.ClientOptions(2, IdentityKsf.Instance));
        VaultOutcome outcome = await RetryAsync(() => other.RecoverAsync("alice", Password()));
        using KeyRecovered recovered = outcome as KeyRecovered ?? throw new AssertFailedException($"{outcome.Describe()}\n{await fleet.DescribeAsync()}");
        CollectionAssert.AreEqual(key, recovered.Key);
    }

    private static async Task<VaultOutcome> RetryAsync(Func<Task<VaultOutcome>> operation)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            VaultOutcome outcome = await operation();
            if (outcome is not (Unavailable or Conflict) || DateTime.UtcNow > deadline)
            {
                return outcome;
            }

            await Task.Delay(100);
        }
    }
}

using HsmVault.Client;
using HsmVault.Client.Transparency;
using HsmVault.Crypto.Opaque;
using HsmVault.Testing;

namespace HsmVault.Witness.Tests;

/// <summary>
/// Over-the-air fleet keys with real processes: a simulator on a SoftHSM2 token, a host that
/// follows the witness's log, and the witness over HTTP. The client pins only the witness's and
/// the operator's keys; it accepts the fleet from what the host announces, and refuses the same
/// host once the log's newest epoch names another fleet.
/// </summary>
[TestClass]
public sealed class OverTheAirProcessTests
{
    private const string Ns = "fleet-ota";

    [TestMethod]
    public async Task A_client_accepts_a_real_hosts_fleet_from_the_log_and_refuses_it_once_the_log_moves_on()
    {
        await using TestWitness witness = await TestWitness.StartAsync();
        await using LocalFleet vault = await LocalFleet.StartAsync(
            "hsmvault-ota", [$"--Transparency:Witness={witness.Address}", $"--Transparency:Namespace={Ns}", "--Transparency:RefreshInterval=00:00:01"]);
        await witness.PublishAsync(Ns, 1, vault.FleetKeys);
        NewestEpochFile state = NewestEpochFile.InMemory();
        byte[] key = Enumerable.Repeat((byte)0x5a, 32).ToArray();

        VaultOutcome registered = await WithClientAsync(vault, witness, state, c => c.RegisterAsync("alice", "pw"u8.ToArray(), key));
        VaultOutcome recovered = await WithClientAsync(vault, witness, state, c => c.RecoverAsync("alice", "pw"u8.ToArray()));

        Assert.IsInstanceOfType<UserRegistered>(registered, registered.Describe());
        CollectionAssert.AreEqual(key, ((KeyRecovered)recovered).Key);
        Assert.AreEqual(1, state.Get(Ns)!.Epoch);

        // The operator publishes another fleet; the host still runs the old one and announces the
        // newest bundle beside its own HSM's channel key: the client refuses to seal anything to it.
        await witness.PublishAsync(Ns, 2, HsmVault.Transparency.Tests.TestLog.NewFleet("fleet-next"));
        VaultOutcome refused = await RetryUntilAsync(
            () => WithClientAsync(vault, witness, state, c => c.StatusAsync("alice")), o => o is FleetBundleRefused);
        Assert.IsInstanceOfType<BundleChannelKeyMismatch>(((FleetBundleRefused)refused).Verdict, refused.Describe());
    }

    private static async Task<VaultOutcome> WithClientAsync(LocalFleet vault, TestWitness witness, NewestEpochFile state, Func<VaultClient, Task<VaultOutcome>> operation)
    {
        var options = vault.ClientOptions(IdentityKsf.Instance) with { FleetKeys = null, OverTheAir = new OverTheAirFleet(witness.Trust(Ns), state) };

        // The host announces within a second of the epoch; until then it has no bundle.
        return await RetryUntilAsync(async () =>
        {
            await using var client = new VaultClient(options);
            return await operation(client);
        }, o => o is not FleetBundleRefused { Verdict: BundleNotAnnounced });
    }

    private static async Task<VaultOutcome> RetryUntilAsync(Func<Task<VaultOutcome>> attempt, Func<VaultOutcome, bool> done)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            VaultOutcome outcome = await attempt();
            if (done(outcome) || DateTime.UtcNow > deadline)
            {
                return outcome;
            }

            await Task.Delay(200);
        }
    }
}

using System.Globalization;
using System.Text;
using HsmVault.Benchmarks;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;
using HsmVault.Simulator.Pkcs11;
using HsmVault.Testing;

namespace HsmVault.Host.Tests;

/// <summary>
/// The scale benchmark's seeding path (<see cref="ScaleSeeder"/>, compiled in from the benchmarks) at
/// 10^4 records: the store and the token it leaves are accepted by the real simulator and host
/// processes, real users registered afterwards recover through proofs over the seeded tree, and the
/// fillers are real records (the enclave verifies their proofs and opens them to answer a status).
/// </summary>
[TestClass]
public sealed class ScaleSeedingTests
{
    private const string TokenLabel = "hsmvault-seed-test";
    private const int Records = 10_000;

    [TestMethod]
    [Timeout(300_000)]
    public async Task A_seeded_vault_serves_real_users_and_its_fillers_are_real_records()
    {
        using var state = new TempDirectory();
        SeedLike(state.Path);

        // The host refuses to serve unless the store's log index, root and MAC equal the enclave's.
        await using (LocalFleet fleet = await LocalFleet.OpenAsync(state.Path, "hsm", TokenLabel))
        {
            VaultClientOptions options = fleet.ClientOptions(IdentityKsf.Instance);
            await using var client = new VaultClient(options);
            for (int i = 0; i < 12; i++)
            {
                Assert.IsInstanceOfType<UserRegistered>(await client.RegisterAsync(RealUser(i), Password(i), Key(i)));
            }

            for (int i = 0; i < 12; i++)
            {
                VaultOutcome outcome = await client.RecoverAsync(RealUser(i), Password(i));
                Assert.IsInstanceOfType<KeyRecovered>(outcome, $"{RealUser(i)}: {outcome.Describe()}");
                CollectionAssert.AreEqual(Key(i), ((KeyRecovered)outcome).Key.ToArray());
            }

            Assert.IsInstanceOfType<WrongPassword>(await client.RecoverAsync(RealUser(0), Password(99)));

            // A status needs the record's membership proof checked against the enclave's root and the
            // record opened with the HSM's record key: a filler that was not really written fails here.
            foreach (int filler in new[] { 0, 1, 4_321, Records - 1 - 12 - 1 })
            {
                VaultOutcome status = await client.StatusAsync(ScaleSeeder.FillerPrefix + filler.ToString(CultureInfo.InvariantCulture));
                Assert.IsInstanceOfType<StatusReported>(status, $"filler {filler}: {status.Describe()}");
                Assert.AreEqual(((StatusReported)status).AttemptLimit, ((StatusReported)status).AttemptsLeft);
            }

            Assert.IsInstanceOfType<NoRecord>(await client.StatusAsync(ScaleSeeder.FillerPrefix + Records.ToString(CultureInfo.InvariantCulture)));
        }

        using SqliteVaultStore store = SqliteVaultStore.Open(Path.Combine(state.Path, "host.db"));
        Assert.AreEqual(Records - 1 + 12, store.State.RecordCount);
        SealedRecord fillerRecord = store.FindRecord(MerkleHashing.UserKey("filler-7"u8))!;
        SealedRecord real = store.FindRecord(MerkleHashing.UserKey(Encoding.UTF8.GetBytes(RealUser(3))))!;
        Assert.AreEqual(real.Ciphertext.Length, fillerRecord.Ciphertext.Length, "a filler record has the size of a real user's");
    }

    // The seeding the scale benchmark's child process does, for Records - 1 fillers. One token per test
    // process: SoftHSM2 reads its configuration once, when the library is loaded.
    private static void SeedLike(string directory)
    {
        Pkcs11Options options = SoftHsmStateDirectory.Prepare(Path.Combine(directory, "hsm"), Pkcs11Options.SoftHsm2LibraryPath, TokenLabel);
        using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options);
        using Pkcs11HsmServices second = Pkcs11HsmServices.OpenOrProvision(options);
        using SqliteVaultStore store = SqliteVaultStore.Open(Path.Combine(directory, "host.db"));
        using var seeder = new ScaleSeeder(hsm, VaultPolicy.Default, store, startHsm: second);
        long reported = 0;
        seeder.FillTo(Records - 1, count => reported = count);
        seeder.Flush();
        Assert.AreEqual(Records - 1, seeder.Records);
        Assert.AreEqual(Records - 1, reported);

        // A store the enclave did not write for is refused before anything is sent.
        using SqliteVaultStore other = SqliteVaultStore.Open(Path.Combine(directory, "other.db"));
        Assert.ThrowsExactly<InvalidOperationException>(() => new ScaleSeeder(hsm, VaultPolicy.Default, other));
    }

    private static string RealUser(int i) => "real-" + i.ToString(CultureInfo.InvariantCulture);

    private static byte[] Password(int i) => Encoding.UTF8.GetBytes("password " + i.ToString(CultureInfo.InvariantCulture));

    private static byte[] Key(int i) => [.. Enumerable.Repeat((byte)(i + 1), VaultClient.BackupKeyBytes)];
}

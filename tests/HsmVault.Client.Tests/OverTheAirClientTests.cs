using System.Text.Json.Nodes;
using Google.Protobuf;
using HsmVault.Cli;
using HsmVault.Client.Transparency;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Tests;
using static HsmVault.Client.Tests.TestClients;

namespace HsmVault.Client.Tests;

/// <summary>
/// The client accepting fleets over the air from what a host announces, against a host that
/// forges, swaps, replays or drops the announcement. A fleet is trusted only when its bundle passes
/// every check against the client's pinned witness and operator keys and its newest epoch, and
/// the channel key the host names is the bundle's; after any refusal the client has sent nothing
/// sealed to that fleet (no registration, no guess) and has dropped the connection.
/// </summary>
[TestClass]
public sealed class OverTheAirClientTests
{
    [TestMethod]
    public async Task A_client_with_no_pinned_fleet_accepts_the_announced_one_and_registers_and_recovers()
    {
        using var log = new TestLog();
        await using var vault = new FakeVault(fleetId: "fleet-a");
        vault.Announcement = Announce(log, log.Append(1, vault.FleetKeys), vault);
        NewestEpochFile state = NewestEpochFile.InMemory();

        await using (VaultClient client = OverTheAir(vault, log, state))
        {
            Assert.IsNull(client.CurrentFleet);
            Assert.IsInstanceOfType<UserRegistered>(await client.RegisterAsync("alice", Password("pw"), Key(7)));
            Assert.AreEqual("fleet-a", client.CurrentFleet!.FleetId);
            VaultOutcome recovered = await client.RecoverAsync("alice", Password("pw"));
            CollectionAssert.AreEqual(Key(7), ((KeyRecovered)recovered).Key);
        }

        Assert.AreEqual(1, vault.FleetQueryCount, "asked once, then trusted");
        Assert.AreEqual(1, state.Get(log.Namespace)!.Epoch, "the accepted epoch is recorded");
    }

    [TestMethod]
    public async Task A_rotated_fleet_is_followed_by_the_bundle_attached_to_the_refusal()
    {
        using var log = new TestLog();
        await using var a = new FakeVault(fleetId: "fleet-a");
        await using var b = new FakeVault(fleetId: "fleet-b");
        log.Append(1, a.FleetKeys);
        WitnessLogEntry epoch2 = log.Append(2, b.FleetKeys);
        b.Announcement = Announce(log, epoch2, b);
        NewestEpochFile state = NewestEpochFile.InMemory();
        int opened = 0;
        b.Opened = (_, _) => Interlocked.Increment(ref opened);

        // An app that shipped pinned to fleet A, talking to the endpoint that now serves fleet B.
        await using VaultClient client = OverTheAir(b, log, state, pinned: a.FleetKeys);
        Assert.IsInstanceOfType<UserRegistered>(await client.RegisterAsync("bob", Password("pw"), Key(2)));

        Assert.AreEqual("fleet-b", client.CurrentFleet!.FleetId);
        Assert.AreEqual(2, state.Get(log.Namespace)!.Epoch);
        Assert.AreEqual(0, b.FleetQueryCount, "the bundle came with the refusal: no extra round trip");
        Assert.AreEqual(3, b.SealedRequestCount, "the start sealed to A (refused), again to B, then the upload");
        Assert.AreEqual(2, opened, "fleet B opened only what was sealed to it");
        CollectionAssert.AreEqual(Key(2), ((KeyRecovered)await client.RecoverAsync("bob", Password("pw"))).Key);
    }

    [TestMethod]
    public async Task A_bundle_the_pinned_witness_did_not_sign_is_refused_and_nothing_is_sent()
    {
        using var log = new TestLog();
        using var rogueWitness = new TestLog(log.Namespace);
        await using var rogue = new FakeVault(fleetId: "rogue");
        rogue.Announcement = Announce(rogueWitness, rogueWitness.Append(1, rogue.FleetKeys), rogue);

        await AssertRefusedAsync<BundleBadWitnessSignature>(rogue, log);
    }

    [TestMethod]
    public async Task A_genuine_bundle_announced_beside_the_hosts_own_channel_key_is_refused()
    {
        using var log = new TestLog();
        await using var genuine = new FakeVault(fleetId: "fleet-a");
        await using var rogue = new FakeVault(fleetId: "rogue");

        // The host runs a fleet of its own and shows fleet A's genuine bundle with its own channel key.
        rogue.Announcement = new FleetAnnouncement
        {
            ChannelPublicKey = ByteString.CopyFrom(rogue.FleetKeys.ChannelPublicKey),
            ValidationBundle = log.Bundle(log.Append(1, genuine.FleetKeys).Index).ToJson(),
        };

        await AssertRefusedAsync<BundleChannelKeyMismatch>(rogue, log);
    }

    [TestMethod]
    public async Task A_bundle_whose_fleet_key_file_was_swapped_is_refused()
    {
        using var log = new TestLog();
        await using var genuine = new FakeVault(fleetId: "fleet-a");
        await using var rogue = new FakeVault(fleetId: "fleet-a");
        JsonObject bundle = JsonNode.Parse(log.Bundle(log.Append(1, genuine.FleetKeys).Index).ToJson())!.AsObject();
        bundle["entry"]!["fleet_keys"] = JsonNode.Parse(rogue.FleetKeys.ToCanonicalJson());
        rogue.Announcement = new FleetAnnouncement { ChannelPublicKey = ByteString.CopyFrom(rogue.FleetKeys.ChannelPublicKey), ValidationBundle = bundle.ToJsonString() };

        await AssertRefusedAsync<BundleDigestMismatch>(rogue, log);
    }

    [TestMethod]
    public async Task A_bundle_without_the_operators_counter_signature_is_refused()
    {
        using var log = new TestLog();
        await using var vault = new FakeVault(fleetId: "fleet-a");
        vault.Announcement = Announce(log, log.Append(1, vault.FleetKeys, counterSign: false), vault);

        await AssertRefusedAsync<BundleBadCounterSignature>(vault, log);
    }

    [TestMethod]
    public async Task A_retired_fleets_bundle_replayed_after_a_newer_epoch_is_refused()
    {
        using var log = new TestLog();
        await using var a = new FakeVault(fleetId: "fleet-a");
        await using var b = new FakeVault(fleetId: "fleet-b");
        WitnessLogEntry epoch1 = log.Append(1, a.FleetKeys);
        WitnessLogEntry epoch2 = log.Append(2, b.FleetKeys);
        NewestEpochFile state = NewestEpochFile.InMemory();
        b.Announcement = Announce(log, epoch2, b);
        await using (VaultClient moved = OverTheAir(b, log, state))
        {
            Assert.IsInstanceOfType<NoRecord>(await moved.StatusAsync("carol"));
        }

        // A host still running the retired fleet A replays its genuine epoch-1 bundle.
        a.Announcement = Announce(log, epoch1, a);
        await AssertRefusedAsync<BundleEpochRolledBack>(a, log, state);
    }

    [TestMethod]
    public async Task A_host_that_announces_nothing_gets_nothing_sealed()
    {
        using var log = new TestLog();
        await using var vault = new FakeVault();

        await AssertRefusedAsync<BundleNotAnnounced>(vault, log);

        // A BUSY answer is only a reason to retry, and still nothing is sealed.
        vault.HostIntercept = request => request.FleetQuery is null ? null : new ClientResponse { Error = new Error { Code = ErrorCode.Busy, Message = "busy" } };
        await using VaultClient client = OverTheAir(vault, log, NewestEpochFile.InMemory());
        Assert.IsInstanceOfType<Unavailable>(await client.StatusAsync("alice"));
        Assert.AreEqual(0, vault.SealedRequestCount);
    }

    [TestMethod]
    public async Task A_forged_bundle_attached_to_a_refusal_does_not_move_the_client_and_nothing_is_resent()
    {
        using var log = new TestLog();
        using var rogueWitness = new TestLog(log.Namespace);
        await using var a = new FakeVault(fleetId: "fleet-a");
        await using var rogue = new FakeVault(fleetId: "rogue");
        log.Append(1, a.FleetKeys);
        rogue.Announcement = Announce(rogueWitness, rogueWitness.Append(2, rogue.FleetKeys), rogue);
        NewestEpochFile state = NewestEpochFile.InMemory();

        await using VaultClient client = OverTheAir(rogue, log, state, pinned: a.FleetKeys);
        VaultOutcome outcome = await client.RegisterAsync("dave", Password("pw"), Key(4));

        Assert.IsInstanceOfType<BundleBadWitnessSignature>(((FleetBundleRefused)outcome).Verdict);
        Assert.AreEqual(1, rogue.SealedRequestCount, "only the start sealed to fleet A reached the host; nothing was sealed to its fleet");
        Assert.AreEqual("fleet-a", client.CurrentFleet!.FleetId);
        Assert.IsNull(state.Get(log.Namespace));
    }

    [TestMethod]
    public async Task A_refusal_whose_bundle_names_the_current_fleet_ends_as_not_authenticated_without_a_resend()
    {
        using var log = new TestLog();
        await using var a = new FakeVault(fleetId: "fleet-a");
        WitnessLogEntry epoch1 = log.Append(1, a.FleetKeys);
        a.Announcement = Announce(log, epoch1, a);
        await using VaultClient client = OverTheAir(a, log, NewestEpochFile.InMemory());
        Assert.IsInstanceOfType<NoRecord>(await client.StatusAsync("erin"));

        // The host now drops the fleet's answers and claims the request did not open, attaching
        // the bundle of the very fleet the client already trusts.
        a.HostIntercept = request => request.FleetQuery is null
            ? new ClientResponse { Error = new Error { Code = ErrorCode.BadRequest, Field = ClientRequest.SealedRequestField, Message = "does not open" }, FleetAnnouncement = a.Announcement }
            : null;
        int before = a.RequestCount;
        VaultOutcome outcome = await client.RecoverAsync("erin", Password("pw"));

        Assert.IsInstanceOfType<FleetNotAuthenticated>(outcome, outcome.Describe());
        Assert.AreEqual(1, a.RequestCount - before, "one login start, not resent, and no fleet query");
        Assert.AreEqual("fleet-a", client.CurrentFleet!.FleetId);
    }

    [TestMethod]
    public void Options_need_a_pinned_fleet_or_over_the_air_trust()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => new VaultClient(new VaultClientOptions("127.0.0.1", 7300, null)));
        StringAssert.Contains(error.Message, "FleetKeys");
    }

    private static FleetAnnouncement Announce(TestLog log, WitnessLogEntry entry, FakeVault vault) => new()
    {
        ChannelPublicKey = ByteString.CopyFrom(vault.FleetKeys.ChannelPublicKey),
        ValidationBundle = log.Bundle(entry.Index).ToJson(),
    };

    private static VaultClient OverTheAir(FakeVault vault, TestLog log, NewestEpochFile state, FleetKeySet? pinned = null) =>
        new(OptionsFor(vault) with { FleetKeys = pinned, OverTheAir = new OverTheAirFleet(log.Trust(), state) });

    // Each operation the client can start: none gets anything sealed to the host's fleet.
    private static async Task AssertRefusedAsync<TVerdict>(FakeVault vault, TestLog trusted, NewestEpochFile? state = null)
        where TVerdict : BundleVerdict
    {
        state ??= NewestEpochFile.InMemory();
        long? newest = state.Get(trusted.Namespace)?.Epoch;
        Func<VaultClient, Task<VaultOutcome>>[] operations =
        [
            c => c.RegisterAsync("mallory", Password("pw"), Key(9)),
            c => c.RecoverAsync("mallory", Password("pw")),
            c => c.StatusAsync("mallory"),
        ];
        foreach (Func<VaultClient, Task<VaultOutcome>> operation in operations)
        {
            await using VaultClient client = OverTheAir(vault, trusted, state);
            VaultOutcome outcome = await operation(client);
            Assert.IsInstanceOfType<FleetBundleRefused>(outcome, outcome.Describe());
            Assert.IsInstanceOfType<TVerdict>(((FleetBundleRefused)outcome).Verdict, outcome.Describe());
            Assert.IsNull(client.CurrentFleet);
        }

        Assert.AreEqual(0, vault.SealedRequestCount, "nothing was sealed to the host's fleet");
        Assert.AreEqual(0, vault.RegisterFinishCount + vault.LoginStartCount);
        Assert.AreEqual(newest, state.Get(trusted.Namespace)?.Epoch, "the newest epoch did not move");
    }
}

/// <summary>The command line with --trust: it says which fleet it accepted, and exits 5 naming the verdict when it refuses one.</summary>
[TestClass]
public sealed class OverTheAirCliTests
{
    [TestMethod]
    public async Task Status_with_trust_only_accepts_the_announced_fleet_and_says_so()
    {
        using var log = new TestLog();
        await using var vault = new FakeVault(fleetId: "fleet-a");
        vault.Announcement = new FleetAnnouncement
        {
            ChannelPublicKey = ByteString.CopyFrom(vault.FleetKeys.ChannelPublicKey),
            ValidationBundle = log.Bundle(log.Append(1, vault.FleetKeys).Index).ToJson(),
        };
        using var files = new TrustFiles(log);

        CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice", "--endpoint", $"127.0.0.1:{vault.Port}", "--trust", files.Trust, "--trust-state", files.State]);

        Assert.AreEqual(CliExitCode.NoRecord, run.ExitCode, run.Error);
        StringAssert.Contains(run.Error, "fleet fleet-a accepted over the air (epoch 1");
        Assert.AreEqual(1, NewestEpochFile.Open(files.State).Get(log.Namespace)!.Epoch, "kept for later runs");

        // A later run against a host replaying an older epoch is refused from the state file alone.
        log.Append(2, TestLog.NewFleet("fleet-b"));
        NewestEpochFile.Open(files.State).Record(log.Namespace, new NewestEpoch(2, log.Entry(1).Statement.FleetKeysDigest, 2, new byte[32]));
        CliRun replay = await CliRun.InvokeAsync(["status", "--user", "alice", "--endpoint", $"127.0.0.1:{vault.Port}", "--trust", files.Trust, "--trust-state", files.State]);
        Assert.AreEqual(CliExitCode.FleetNotAuthenticated, replay.ExitCode, replay.Error);
        StringAssert.Contains(replay.Error, "epoch 1");
        Assert.AreEqual(0, vault.SealedRequestCount - 1, "only the first run's status query was sealed to the fleet");
    }

    [TestMethod]
    public async Task A_trust_state_without_trust_and_a_damaged_trust_file_are_input_errors()
    {
        CliRun alone = await CliRun.InvokeAsync(["status", "--user", "alice", "--trust-state", "x.json", "--fleet-key", "none.json"]);
        Assert.AreEqual(CliExitCode.UsageOrInput, alone.ExitCode);
        StringAssert.Contains(alone.Error, "--trust-state: only with --trust");

        string bad = Path.Combine(Path.GetTempPath(), $"hsmvault-trust-{Guid.NewGuid():N}.json");
        File.WriteAllText(bad, "{\"format\": \"something\"}");
        try
        {
            CliRun damaged = await CliRun.InvokeAsync(["status", "--user", "alice", "--trust", bad]);
            Assert.AreEqual(CliExitCode.UsageOrInput, damaged.ExitCode);
            StringAssert.Contains(damaged.Error, $"--trust: '{bad}'");
        }
        finally
        {
            File.Delete(bad);
        }
    }

    private sealed class TrustFiles : IDisposable
    {
        private readonly string _directory = Directory.CreateTempSubdirectory("hsmvault-trust-").FullName;

        public TrustFiles(TestLog log)
        {
            Trust = Path.Combine(_directory, "trust.json");
            State = Path.Combine(_directory, "state.json");
            File.WriteAllText(Trust, log.Trust().ToJson());
        }

        public string Trust { get; }

        public string State { get; }

        public void Dispose() => Directory.Delete(_directory, recursive: true);
    }
}

using System.Text;
using Google.Protobuf;
using HsmVault.Host.Pipeline;
using HsmVault.Protocol.V1;
using static HsmVault.Host.Tests.RealEnclaveHostTests;

namespace HsmVault.Host.Tests;

/// <summary>
/// The fleet's hosts (FleetPipeline, PeerListener, the shared store) in front of real fleet enclaves:
/// formation, forwarding, losing a minority, losing a majority, losing the leader, and what a hostile
/// peer host may and may not make another member's HSM do.
/// </summary>
[TestClass]
public sealed class FleetHostTests
{
    [TestMethod]
    public async Task Five_hosts_form_a_fleet_and_any_host_serves_registration_and_recovery()
    {
        await using InProcessFleet fleet = await InProcessFleet.StartAsync(5);
        int leader = await fleet.WaitForLeaderAsync();
        int follower = (leader + 1) % 5;
        var user = new OpaqueUser("alice", fleet.Bridges[0].Hsm);

        await user.RegisterAsync(new Retrying(fleet, follower), "correct horse", "key-of-alice"u8.ToArray());
        byte[]? viaLeader = await user.RecoverAsync(new Retrying(fleet, leader), "correct horse");
        byte[]? viaFollower = await user.RecoverAsync(new Retrying(fleet, (leader + 2) % 5), "correct horse");

        CollectionAssert.AreEqual("key-of-alice"u8.ToArray(), viaLeader);
        CollectionAssert.AreEqual("key-of-alice"u8.ToArray(), viaFollower);

        // Every member captures the entries (the two beyond the majority a moment later), and every
        // host reads the one log from the shared store.
        await VaultPipelineTests.WaitUntilAsync(() => fleet.Bridges.All(b =>
            b.Call(new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState.CapturedIndex >= 4));
        await VaultPipelineTests.WaitUntilAsync(() => fleet.Hosts.All(h => h!.Pipeline.StoreState.LogIndex >= 4));
    }

    [TestMethod]
    public async Task Two_of_five_hsms_down_still_serve_three_down_refuse_and_service_returns_with_them()
    {
        await using InProcessFleet fleet = await InProcessFleet.StartAsync(5);
        int leader = await fleet.WaitForLeaderAsync();
        int[] others = [.. Enumerable.Range(0, 5).Where(i => i != leader)];
        var user = new OpaqueUser("bob", fleet.Bridges[0].Hsm);
        await user.RegisterAsync(new Retrying(fleet, leader), "pw", [1, 2, 3]);

        fleet.Bridges[others[0]].Down = true;
        fleet.Bridges[others[1]].Down = true;
        CollectionAssert.AreEqual(new byte[] { 1, 2, 3 }, await user.RecoverAsync(new Retrying(fleet, leader), "pw"));

        fleet.Bridges[others[2]].Down = true;
        ClientResponse refused = await fleet.Host(leader).SendAsync(user.Seal(new VaultRequest { Status = new StatusQuery() }));
        Assert.AreEqual(ErrorCode.Unavailable, refused.Error?.Code, refused.ToString());

        foreach (int member in others[..3])
        {
            fleet.Bridges[member].Restart();
            fleet.Bridges[member].Down = false;
        }

        CollectionAssert.AreEqual(new byte[] { 1, 2, 3 }, await user.RecoverAsync(new Retrying(fleet, others[0]), "pw"));
    }

    [TestMethod]
    public async Task When_the_leaders_hsm_dies_another_member_leads_and_nothing_committed_is_lost()
    {
        await using InProcessFleet fleet = await InProcessFleet.StartAsync(5);
        int leader = await fleet.WaitForLeaderAsync();
        string[] names = ["u1", "u2", "u3", "u4"];
        foreach (string name in names)
        {
            await new OpaqueUser(name, fleet.Bridges[0].Hsm).RegisterAsync(new Retrying(fleet, leader), "pw-" + name, Encoding.UTF8.GetBytes("blob-" + name));
        }

        fleet.Bridges[leader].Down = true;
        int next = await fleet.WaitForLeaderAsync();
        Assert.AreNotEqual(leader, next);

        // The old leader's host forwards to the new one; every committed registration is there.
        foreach (string name in names)
        {
            byte[]? blob = await new OpaqueUser(name, fleet.Bridges[0].Hsm).RecoverAsync(new Retrying(fleet, leader), "pw-" + name);
            Assert.AreEqual("blob-" + name, blob is null ? null : Encoding.UTF8.GetString(blob));
        }

        // The old leader's HSM comes back (RAM lost) and follows the new leader again.
        fleet.Bridges[leader].Restart();
        fleet.Bridges[leader].Down = false;
        await VaultPipelineTests.WaitUntilAsync(() => fleet.Host(leader).Pipeline.Status == ServiceStatus.Serving && !fleet.Host(leader).Pipeline.Leading);
    }

    [TestMethod]
    public async Task Concurrent_wrong_guesses_through_every_host_are_each_counted_once_and_never_beyond_the_limit()
    {
        await using InProcessFleet fleet = await InProcessFleet.StartAsync(3, 78, "--Fleet:AttemptLimit=5");
        int leader = await fleet.WaitForLeaderAsync();
        var victim = new OpaqueUser("victim", fleet.Bridges[0].Hsm);
        await victim.RegisterAsync(new Retrying(fleet, leader), "right", [9]);

        // 4 wrong guesses at once, spread over the three hosts: each is counted exactly once.
        Assert.AreEqual(4, await GuessConcurrentlyAsync(fleet, 4));
        VaultResponse status = await victim.ExchangeAsync(new Retrying(fleet, leader), new VaultRequest { Status = new StatusQuery() });
        Assert.AreEqual(1u, status.Status?.AttemptsLeft, status.ToString());

        // 4 more: one is the last counted guess, it destroys the record, and the others get KE2s that
        // test nothing (an unknown user's, indistinguishable by design); the right password is refused.
        Assert.AreEqual(4, await GuessConcurrentlyAsync(fleet, 4));
        VaultResponse after = await victim.ExchangeAsync(new Retrying(fleet, leader), new VaultRequest { Status = new StatusQuery() });
        Assert.AreNotEqual(VaultResponse.ResultOneofCase.Status, after.ResultCase, after.ToString());
        Assert.IsNull(await RecoverOrNullAsync(victim, new Retrying(fleet, leader), "right"), "the right password after the limit must not recover");
    }

    private static async Task<int> GuessConcurrentlyAsync(InProcessFleet fleet, int guesses)
    {
        int ke2s = 0;
        await Task.WhenAll(Enumerable.Range(0, guesses).Select(async i =>
        {
            var guesser = new OpaqueUser("victim", fleet.Bridges[0].Hsm);
            VaultResponse started = await guesser.ExchangeAsync(new Retrying(fleet, i % 3), new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(KnownKe1(i)) } });
            if (started.ResultCase == VaultResponse.ResultOneofCase.LoginStarted)
            {
                Interlocked.Increment(ref ke2s);
            }
        }));
        return ke2s;
    }

    // A well-formed KE1 for a password guess; the vault counts it whatever the password.
    private static byte[] KnownKe1(int i)
    {
        var client = new Crypto.Opaque.OpaqueClient(Crypto.Opaque.OpaqueConfiguration.ForTesting(Encoding.UTF8.GetBytes(Enclave.VaultPolicy.DefaultOpaqueContext)), Crypto.SystemRandomSource.Instance);
        return client.GenerateKE1(Encoding.UTF8.GetBytes("wrong-" + i), out _);
    }

    [TestMethod]
    public async Task A_peer_host_can_ask_only_for_capture_vouch_and_state_and_only_captures_of_stored_entries()
    {
        await using InProcessFleet fleet = await InProcessFleet.StartAsync(3, 79);
        int leader = await fleet.WaitForLeaderAsync();
        int witness = (leader + 1) % 3;
        FleetMemberHost target = fleet.Host(witness);

        // A hostile host tries to make another member's HSM lead, apply a batch, or commit.
        foreach (EnclaveRequest forbidden in new[]
        {
            new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest() },
            new EnclaveRequest { Batch = new Batch() },
            new EnclaveRequest { Commit = new CommitRequest() },
            new EnclaveRequest { StepDown = new StepDownRequest() },
            new EnclaveRequest { FleetGenesis = new FleetGenesisRequest() },
        })
        {
            PeerResponse answer = await target.SendPeerAsync(new PeerRequest { Enclave = forbidden });
            Assert.AreEqual(EnclaveErrorCode.MalformedRequest, answer.Enclave?.Error?.Code, $"{forbidden.KindCase}: {answer}");
        }

        // An entry that is not in the store (here: a real entry's copy with a changed root) is refused before the HSM sees it.
        FleetState before = target.Bridge.Call(new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState;
        var forged = new FleetEntry { Index = before.CapturedIndex + 1, PrevMac = before.CapturedMac, MerkleRoot = ByteString.CopyFrom(new byte[32]), Leader = ByteString.CopyFrom(new byte[16]), Mac = ByteString.CopyFrom(new byte[32]) };
        var capture = new CaptureRequest();
        capture.Entries.Add(forged);
        PeerResponse refused = await target.SendPeerAsync(new PeerRequest { Enclave = new EnclaveRequest { Capture = capture } });
        Assert.AreEqual(EnclaveErrorCode.FleetRefused, refused.Enclave?.Error?.Code, refused.ToString());
        FleetState after = target.Bridge.Call(new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState;
        Assert.IsTrue(after.CapturedIndex >= before.CapturedIndex);

        // A forwarded request to a host that does not lead is refused, not forwarded again (no loops).
        var user = new OpaqueUser("carol", fleet.Bridges[0].Hsm);
        PeerResponse notLeader = await target.SendPeerAsync(new PeerRequest { Forward = user.Seal(new VaultRequest { Status = new StatusQuery() }) });
        Assert.AreEqual(ErrorCode.Unavailable, notLeader.Forward?.Error?.Code, notLeader.ToString());
    }

    [TestMethod]
    public async Task A_restarted_fleet_reopens_from_the_store_and_refuses_a_store_whose_configuration_was_swapped()
    {
        await using InProcessFleet fleet = await InProcessFleet.StartAsync(3, 80);
        int leader = await fleet.WaitForLeaderAsync();
        var user = new OpaqueUser("dave", fleet.Bridges[0].Hsm);
        await user.RegisterAsync(new Retrying(fleet, leader), "pw", [4]);

        for (int i = 0; i < 3; i++)
        {
            await fleet.StopHostAsync(i);
            fleet.Bridges[i].Restart();
        }

        for (int i = 0; i < 3; i++)
        {
            await fleet.StartHostAsync(i);
        }

        int again = await fleet.WaitForLeaderAsync();
        CollectionAssert.AreEqual(new byte[] { 4 }, await user.RecoverAsync(new Retrying(fleet, again), "pw"));

        // The host swaps in a configuration with a higher attempt limit: the restarted HSMs refuse to open it.
        await fleet.StopHostAsync(0);
        using (var store = Store.SqliteVaultStore.Open(fleet.StorePath))
        {
            byte[] stored = store.ReadFleetValue("fleet-configuration")!;
            FleetConfiguration swapped = FleetConfiguration.Parser.ParseFrom(stored);
            swapped.AttemptLimit = 1000;
            Assert.IsTrue(store.CompareAndSetFleetValue("fleet-configuration", stored, swapped.ToByteArray()));
        }

        fleet.Bridges[0].Restart();
        await fleet.StartHostAsync(0);
        await VaultPipelineTests.WaitUntilAsync(() => fleet.Host(0).Pipeline.Status == ServiceStatus.Refused);
        StringAssert.Contains(fleet.Host(0).Pipeline.StatusDetail, "refuses the store's fleet configuration");
    }

    private static async Task<byte[]?> RecoverOrNullAsync(OpaqueUser user, IClientSender sender, string password)
    {
        try
        {
            return await user.RecoverAsync(sender, password);
        }
        catch (AssertFailedException)
        {
            return null;
        }
    }

    /// <summary>Sends through one member's host, again while the fleet answers UNAVAILABLE (a leader change).</summary>
    private sealed class Retrying(InProcessFleet fleet, int member) : IClientSender
    {
        public Task<ClientResponse> SendAsync(ClientRequest request) => fleet.SendUntilAvailableAsync(member, () => request);
    }
}

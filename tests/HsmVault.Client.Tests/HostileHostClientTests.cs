using System.Text;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Hpke;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.V1;
using static HsmVault.Client.Tests.TestClients;

namespace HsmVault.Client.Tests;

/// <summary>
/// The host between the client and the fleet, playing every trick on what it relays. The client
/// trusts only a sealed answer that opens under its own request's key: anything else is
/// <see cref="FleetNotAuthenticated"/> (or, for harmless clear refusals, Unavailable), and after it
/// the client sends nothing more: no upload, no guess.
/// </summary>
[TestClass]
public sealed class HostileHostClientTests
{
    [TestMethod]
    public async Task A_host_that_runs_its_own_OPRF_key_and_echoes_the_pinned_key_gets_no_upload()
    {
        await using var vault = new FakeVault();
        // The host answers RegisterStart itself: its own OPRF key, the pinned AKE key echoed, the
        // best "sealing" it can do (to an HPKE context of its own; it lacks the request's secret).
        var hostOpaque = new OpaqueServer(OpaqueConfiguration.ForTesting(Encoding.UTF8.GetBytes(FakeVault.Context)),
            SoftwareAkeKey.Derive(new byte[32]), new SoftwareOprfSeed(new byte[32]), SystemRandomSource.Instance);
        using var hostKey = P256HpkeKeyPair.Derive("host's own channel key"u8);
        vault.HostIntercept = request =>
        {
            byte[] response = hostOpaque.CreateRegistrationResponse(new P256HostProbe().RegistrationRequest(), request.UserId.Span);
            vault.PublicKey.CopyTo(response.AsSpan(OpaqueSizes.RegistrationResponse - OpaqueSizes.PublicKey));
            var forged = new VaultResponse { RegisterStarted = new RegisterStarted { RegistrationResponse = ByteString.CopyFrom(response), RegistrationSession = ByteString.CopyFromUtf8("s") } };
            return new ClientResponse { SealedResponse = ByteString.CopyFrom(SealWithOwnKey(hostKey, request.UserId.Span, forged)) };
        };
        await using var client = For(vault);

        VaultOutcome outcome = await client.RegisterAsync("alice", Password("pw"), Key(1));

        Assert.IsInstanceOfType<FleetNotAuthenticated>(outcome);
        Assert.AreEqual(1, vault.RequestCount, "the registration start was the only request: nothing was uploaded");
        Assert.AreEqual(0, vault.RegisterFinishCount);
    }

    [TestMethod]
    public async Task A_forged_registered_is_not_believed()
    {
        await using var vault = new FakeVault();
        using var hostKey = P256HpkeKeyPair.Derive("host's own channel key"u8);
        int seen = 0;
        vault.HostIntercept = request =>
        {
            // Relay the start to the fleet; swallow the upload and answer it with a forged Registered.
            if (Interlocked.Increment(ref seen) == 1)
            {
                return null;
            }

            return new ClientResponse { SealedResponse = ByteString.CopyFrom(SealWithOwnKey(hostKey, request.UserId.Span, new VaultResponse { Registered = new Registered() })) };
        };
        await using var client = For(vault);

        VaultOutcome outcome = await client.RegisterAsync("alice", Password("pw"), Key(1));

        Assert.IsInstanceOfType<FleetNotAuthenticated>(outcome, "the user is never told K is backed up");
        Assert.AreEqual(0, vault.RegisterFinishCount);
    }

    [TestMethod]
    public async Task A_genuine_answer_swapped_to_another_request_does_not_open()
    {
        await using var vault = new FakeVault();
        await using (var registrar = For(vault))
        {
            await registrar.RegisterAsync("alice", Password("pw"), Key(1));
            await registrar.RegisterAsync("bob", Password("pw"), Key(2));
        }

        ClientResponse? held = null;
        vault.HostIntercept = request =>
        {
            ClientResponse genuine = vault.Answer(request);
            if (held is null)
            {
                held = genuine;
                return genuine;
            }

            // Bob's request gets the answer the fleet made for alice's.
            return held;
        };
        await using var alice = For(vault);
        await using var bob = For(vault);

        Assert.IsInstanceOfType<StatusReported>(await alice.StatusAsync("alice"));
        Assert.IsInstanceOfType<FleetNotAuthenticated>(await bob.StatusAsync("bob"));
    }

    [TestMethod]
    public async Task An_old_answer_replayed_to_a_new_request_does_not_open()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("pw"), Key(1));
        ClientResponse? first = null;
        vault.HostIntercept = request =>
        {
            ClientResponse genuine = vault.Answer(request);
            first ??= genuine;
            return first;
        };

        Assert.IsInstanceOfType<StatusReported>(await client.StatusAsync("alice"));
        Assert.IsInstanceOfType<FleetNotAuthenticated>(await client.StatusAsync("alice"), "yesterday's answer to today's question");
    }

    [TestMethod]
    public async Task A_truncated_or_bit_flipped_answer_ends_the_login_before_any_guess()
    {
        foreach (Func<byte[], byte[]> damage in new Func<byte[], byte[]>[] { b => b[..^1], b => [.. b[..^1], (byte)(b[^1] ^ 1)], b => [(byte)(b[0] ^ 0x80), .. b[1..]], b => b[..10] })
        {
            await using var vault = new FakeVault();
            await using var client = For(vault);
            await client.RegisterAsync("alice", Password("pw"), Key(1));
            int before = vault.RequestCount;
            vault.HostIntercept = request =>
            {
                ClientResponse genuine = vault.Answer(request);
                return new ClientResponse { SealedResponse = ByteString.CopyFrom(damage(genuine.SealedResponse.ToByteArray())) };
            };

            Assert.IsInstanceOfType<FleetNotAuthenticated>(await client.RecoverAsync("alice", Password("pw")));
            Assert.AreEqual(before + 1, vault.RequestCount, "no login finish after the damaged login start");
        }
    }

    [TestMethod]
    [DataRow(ErrorCode.AuthFailed)]
    [DataRow(ErrorCode.NotRegistered)]
    [DataRow(ErrorCode.Stale)]
    [DataRow(ErrorCode.Unspecified)]
    public async Task A_clear_answer_that_only_the_fleet_may_give_is_refused_and_ends_the_exchange(ErrorCode code)
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("pw"), Key(1));
        int before = vault.RequestCount;
        vault.HostIntercept = _ => new ClientResponse { Error = new Error { Code = code, AttemptsLeft = 0 } };

        var refused = Assert.IsInstanceOfType<FleetNotAuthenticated>(await client.RecoverAsync("alice", Password("pw")));
        StringAssert.Contains(refused.Detail, "in the clear");
        Assert.AreEqual(before + 1, vault.RequestCount, "nothing more was sent");
    }

    [TestMethod]
    [DataRow(ErrorCode.Unavailable, typeof(Unavailable))]
    [DataRow(ErrorCode.Busy, typeof(Unavailable))]
    [DataRow(ErrorCode.Internal, typeof(Unavailable))]
    [DataRow(ErrorCode.Locked, typeof(RateLimited))]
    [DataRow(ErrorCode.TooLarge, typeof(ProtocolError))]
    [DataRow(ErrorCode.BadRequest, typeof(ProtocolError))]
    public async Task A_clear_refusal_from_the_host_is_only_a_reason_to_retry_or_give_up(ErrorCode code, Type expected)
    {
        await using var vault = new FakeVault();
        vault.HostIntercept = _ => new ClientResponse { Error = new Error { Code = code, Field = "user_id" } };
        await using var client = For(vault);

        Assert.IsInstanceOfType(await client.StatusAsync("alice"), expected);
        Assert.IsInstanceOfType(await client.RegisterAsync("alice", Password("pw"), Key(1)), expected);
        Assert.AreEqual(0, vault.RegisterFinishCount);
    }

    [TestMethod]
    public async Task The_host_sees_the_user_id_and_nothing_of_the_operation()
    {
        await using var vault = new FakeVault();
        var seen = new List<ClientRequest>();
        vault.HostIntercept = request =>
        {
            lock (seen)
            {
                seen.Add(request.Clone());
            }

            return null;
        };
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("correct horse"), Key(7));
        Assert.IsInstanceOfType<KeyRecovered>(await client.RecoverAsync("alice", Password("correct horse")));
        await client.DeleteAsync("alice", Password("correct horse"));

        Assert.HasCount(6, seen);
        foreach (ClientRequest request in seen)
        {
            Assert.AreEqual("alice", request.UserId.ToStringUtf8());
            Assert.HasCount(65, request.EncapsulatedKey);
            string all = Convert.ToHexString(request.ToByteArray());
            Assert.DoesNotContain(Convert.ToHexString("correct horse"u8), all, "the password never appears");
            Assert.DoesNotContain(Convert.ToHexString(Key(7)), all, "K never appears");
        }

        Assert.AreEqual(6, seen.Select(r => r.EncapsulatedKey).Distinct().Count(), "a fresh encapsulated key per request");
    }

    // A host can seal to any context it made itself, never to the client's: it lacks the request's exported secret.
    private static byte[] SealWithOwnKey(P256HpkeKeyPair hostKey, ReadOnlySpan<byte> userId, VaultResponse response)
    {
        using PendingChannelResponse hostPending = VaultChannel.SealRequest(hostKey.PublicKey, userId, [], SystemRandomSource.Instance, out byte[] enc, out byte[] ct);
        if (!VaultChannel.TryOpenRequest(hostKey, userId, enc, ct, out _, out ChannelResponder? responder))
        {
            throw new InvalidOperationException("the host's own request does not open");
        }

        using (responder)
        {
            return responder!.Seal(response.ToByteArray(), SystemRandomSource.Instance);
        }
    }

    // The host builds a registration request of its own to get an OPRF evaluation under its key.
    private sealed class P256HostProbe
    {
        public byte[] RegistrationRequest()
        {
            var client = new OpaqueClient(OpaqueConfiguration.ForTesting(Encoding.UTF8.GetBytes(FakeVault.Context)), SystemRandomSource.Instance);
            byte[] request = client.CreateRegistrationRequest("anything"u8, out ClientRegistrationState state);
            state.Dispose();
            return request;
        }
    }
}

using Google.Protobuf;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>
/// A host that rewrites, moves, swaps or replays what it relays through the client channel. The
/// enclave opens only what a client sealed for that user, answers only to that request, and a
/// replay changes nothing the original did not.
/// </summary>
[TestClass]
public sealed class ChannelAttackTests
{
    private static readonly byte[] Blob = [.. Enumerable.Range(0, 48).Select(i => (byte)(i * 5))];

    private static (TestVault Vault, TestUser Alice) Registered(ulong seed) => TestVault.WithAlice(seed, Blob);

    [TestMethod]
    public void A_recover_rewritten_in_transit_does_not_open_and_deletes_nothing()
    {
        var (vault, alice) = Registered(300);
        VaultResponse started = vault.Send(alice.LoginStartRequest("right", out ClientLoginState state));
        LoginResult local = alice.TryFinishLocally(state, started.LoginStarted)!;
        using SealedRequest recover = vault.Seal(alice.LoginFinishRequest(started.LoginStarted.LoginSession, local.KE3, LoginAction.Recover));
        int entries = vault.Log.Count;

        // The action sits inside the ciphertext: the host can only flip bits it cannot read.
        for (int bit = 0; bit < recover.Request.SealedRequest.Length * 8; bit += 11)
        {
            byte[] tampered = recover.Request.SealedRequest.ToByteArray();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            ClientResponse answer = vault.SendRaw(new ClientRequest(recover.Request) { SealedRequest = ByteString.CopyFrom(tampered) });
            Assert.AreEqual(ErrorCode.BadRequest, answer.Error.Code, $"bit {bit}");
            Assert.AreEqual(ClientRequest.SealedRequestField, answer.Error.Field);
        }

        Assert.AreEqual(entries, vault.Log.Count, "no rewritten request changed the vault");
        ClientResponse genuine = vault.SendRaw(recover.Request);
        Assert.AreEqual(VaultResponse.ResultOneofCase.Recovered, recover.Open(genuine, acceptClear: false).ResultCase, "the user's own request still recovers");
    }

    [TestMethod]
    public void A_request_moved_to_another_user_does_not_open_and_touches_neither_record()
    {
        var (vault, alice) = Registered(301);
        var bob = new TestUser(vault, "bob", 2);
        bob.Register("bobs", Blob);
        using SealedRequest guess = vault.Seal(alice.LoginStartRequest("wrong", out _));
        ClientResponse moved = vault.SendRaw(new ClientRequest(guess.Request) { UserId = bob.UserId });
        Assert.AreEqual(ErrorCode.BadRequest, moved.Error.Code);
        Assert.AreEqual(ClientRequest.SealedRequestField, moved.Error.Field);
        Assert.AreEqual(10u, bob.AttemptsLeft(), "bob's counter did not move");
        Assert.AreEqual(10u, alice.AttemptsLeft(), "alice's counter did not move");
    }

    [TestMethod]
    public void Two_answers_swapped_between_requests_open_for_neither_client()
    {
        var (vault, alice) = Registered(302);
        var bob = new TestUser(vault, "bob", 2);
        bob.Register("bobs", Blob);
        using SealedRequest aliceStatus = vault.Seal(alice.StatusRequest());
        using SealedRequest bobStatus = vault.Seal(bob.StatusRequest());
        BatchResult batch = vault.Submit([vault.OperationFor(aliceStatus.Request), vault.OperationFor(bobStatus.Request)]);
        ClientResponse forAlice = batch.Results[0].Client;
        ClientResponse forBob = batch.Results[1].Client;
        Assert.IsFalse(aliceStatus.Opens(forBob), "bob's answer handed to alice");
        Assert.IsFalse(bobStatus.Opens(forAlice), "alice's answer handed to bob");
        Assert.AreEqual(10u, aliceStatus.Open(forAlice, acceptClear: false).Status.AttemptsLeft);
    }

    [TestMethod]
    public void A_replayed_upload_or_finished_login_changes_nothing()
    {
        var vault = new TestVault(303);
        var alice = new TestUser(vault, "alice");
        VaultResponse started = vault.Send(alice.RegisterStartRequest("right", out ClientRegistrationState registration));
        using SealedRequest upload = vault.Seal(alice.RegisterFinishRequest(registration, started.RegisterStarted, Blob));
        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, upload.Open(vault.SendRaw(upload.Request), acceptClear: false).ResultCase);

        VaultResponse login = vault.Send(alice.LoginStartRequest("right", out ClientLoginState state));
        LoginResult local = alice.TryFinishLocally(state, login.LoginStarted)!;
        using SealedRequest recover = vault.Seal(alice.LoginFinishRequest(login.LoginStarted.LoginSession, local.KE3));
        Assert.AreEqual(VaultResponse.ResultOneofCase.Recovered, recover.Open(vault.SendRaw(recover.Request), acceptClear: false).ResultCase);
        RecordWitness before = vault.WitnessFor(alice.UserId);
        int entries = vault.Log.Count;

        // The host kept both requests and sends them again: each is refused inside the channel.
        Assert.AreEqual(ErrorCode.Stale, upload.Open(vault.SendRaw(upload.Request), acceptClear: false).Error.Code, "replayed upload");
        Assert.AreEqual(ErrorCode.Stale, recover.Open(vault.SendRaw(recover.Request), acceptClear: false).Error.Code, "replayed recovery");
        Assert.AreEqual(entries, vault.Log.Count, "no replay was committed");
        Assert.AreEqual(before.Record, vault.WitnessFor(alice.UserId).Record, "the record is unchanged");
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void A_replayed_login_start_counts_like_any_login_start_and_its_answer_is_unreadable_to_the_host()
    {
        var (vault, alice) = Registered(304);
        using SealedRequest start = vault.Seal(alice.LoginStartRequest("right", out _));
        ClientResponse first = vault.SendRaw(start.Request);
        ClientResponse replayed = vault.SendRaw(start.Request);

        // Anyone can start a login (the channel key is public), so a replay is no stronger than a
        // fresh start: one counted guess, and a KE2 the host cannot open nor use without the password.
        Assert.AreEqual(8u, alice.AttemptsLeft());
        Assert.AreEqual(ClientResponse.ResultOneofCase.SealedResponse, replayed.ResultCase);
        Assert.AreNotEqual(first.SealedResponse, replayed.SealedResponse, "a fresh response nonce per answer");
        using SealedRequest hostOwn = vault.Seal(alice.LoginStartRequest("host guess", out _));
        Assert.IsFalse(hostOwn.Opens(replayed), "a host's own channel key material does not open the client's answer");
        Assert.IsTrue(start.Opens(replayed), "only the client that sealed the request can read it");
    }
}

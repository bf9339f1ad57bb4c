using Google.Protobuf;
using HsmVault.Crypto.Hpke;
using HsmVault.Host.Configuration;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Host.Tests;

[TestClass]
public sealed class VaultPipelineTests
{
    [TestMethod]
    public async Task A_registration_is_on_disk_before_its_response_is_released()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientRequest request = Requests.RegisterFinish("alice", "blob-a");
        ClientResponse response = await harness.Pipeline.SubmitAsync(request);

        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, TestChannel.Open(request, response).ResultCase);
        using SqliteVaultStore second = SqliteVaultStore.Open(harness.StorePath);
        Assert.AreEqual("blob-a\0", second.FindRecord(MerkleHashing.UserKey("alice"))!.Ciphertext.ToStringUtf8());
        CollectionAssert.AreEqual(enclave.Root, second.State.MerkleRoot);
        Assert.AreEqual(enclave.LogIndex, second.State.LogIndex);
    }

    [TestMethod]
    public async Task When_the_store_cannot_persist_a_batch_the_enclaves_answer_is_withheld()
    {
        var enclave = new FakeEnclave { ReportLastEntry = false };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        harness.FailingStore.FailCommits = true;

        ClientResponse response = await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));

        Assert.AreEqual(ErrorCode.Unavailable, response.Error.Code);
        Assert.AreEqual(0L, harness.Store.State.RecordCount);
        await harness.WaitForAsync(s => s == ServiceStatus.Refused);
    }

    [TestMethod]
    public async Task A_store_that_cannot_be_read_makes_the_host_unavailable_not_refused_and_it_serves_again()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        harness.FailingStore.FailReads = true;
        harness.FailingStore.Unhealthy = true;

        ClientResponse failed = await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));
        await harness.WaitForAsync(s => s == ServiceStatus.Unavailable);
        harness.FailingStore.FailReads = false;
        harness.FailingStore.Unhealthy = false;
        await harness.WaitForAsync(s => s == ServiceStatus.Serving);
        ClientRequest retry = Requests.RegisterFinish("alice", "a");
        ClientResponse served = await harness.Pipeline.SubmitAsync(retry);

        Assert.AreEqual(ErrorCode.Unavailable, failed.Error.Code);
        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, TestChannel.Open(retry, served).ResultCase);
        Assert.AreEqual(1L, harness.Store.State.RecordCount);
    }

    [TestMethod]
    public async Task After_a_failed_commit_the_host_catches_up_from_the_enclaves_last_entry()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientResponse failed = await FailOneCommitAsync(harness, Requests.RegisterFinish("alice", "a"));
        VaultResponse recovered = await harness.Pipeline.ExchangeAsync(Requests.LoginFinish("alice", "good"));

        Assert.AreEqual(ErrorCode.Unavailable, failed.Error.Code);
        Assert.AreEqual("a", recovered.Recovered.SealedKeyBlob.ToStringUtf8());
    }

    [TestMethod]
    public async Task The_store_keeps_only_the_live_tree_through_batches_re_registrations_and_a_catch_up()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => harness.Pipeline.SubmitAsync(Requests.RegisterFinish($"user-{i}", $"blob-{i}"))));
        Assert.AreEqual(MerkleCensus.Reachable(harness.Store.Nodes, harness.Store.State.MerkleRoot), StoreAudit.Check(harness.StorePath, postgres: false).NodeRows, "after 40 registrations");

        // New records replace old ones; then a commit fails after the enclave committed, and the host catches up.
        await Task.WhenAll(Enumerable.Range(0, 40).Where(i => i % 3 == 0).Select(i => harness.Pipeline.SubmitAsync(Requests.RegisterFinish($"user-{i}", $"again-{i}"))));
        ClientResponse failed = await FailOneCommitAsync(harness, Requests.RegisterFinish("user-1", "during the failure"));
        VaultResponse recovered = await harness.Pipeline.ExchangeAsync(Requests.LoginFinish("user-3", "good"));

        Assert.AreEqual(ErrorCode.Unavailable, failed.Error.Code);
        Assert.AreEqual("again-3", recovered.Recovered.SealedKeyBlob.ToStringUtf8());
        long live = MerkleCensus.Reachable(harness.Store.Nodes, harness.Store.State.MerkleRoot);
        Assert.AreEqual(live, StoreAudit.Check(harness.StorePath, postgres: false).NodeRows, "after updates and a catch-up");
        Assert.IsTrue(live >= 40 && live < 4 * 40, $"{live} nodes for 40 records");
        CollectionAssert.AreEqual(Array.Empty<string>(), enclave.Violations);
    }

    [TestMethod]
    public async Task Witnesses_built_from_the_store_are_accepted_for_later_operations()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "blob-a"));
        await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("bob", "blob-b"));

        VaultResponse started = await harness.Pipeline.ExchangeAsync(Requests.LoginStart("alice"));
        VaultResponse status = await harness.Pipeline.ExchangeAsync(Requests.Status("alice"));
        VaultResponse recovered = await harness.Pipeline.ExchangeAsync(Requests.LoginFinish("bob", "good"));

        Assert.AreEqual(VaultResponse.ResultOneofCase.LoginStarted, started.ResultCase);
        Assert.AreEqual(9u, status.Status.AttemptsLeft);
        Assert.AreEqual("blob-b", recovered.Recovered.SealedKeyBlob.ToStringUtf8());
        CollectionAssert.AreEqual(Array.Empty<string>(), enclave.Violations);
        // Which request was a login travels sealed: the host counts requests, not guesses.
        Assert.AreEqual(5L, harness.Recorder.Total("hsmvault.host.requests"));
    }

    [TestMethod]
    public async Task Requests_arriving_during_a_batch_are_sent_together_in_the_next_one()
    {
        var enclave = new FakeEnclave { Gate = new TaskCompletionSource() };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        Task<VaultResponse> first = harness.Pipeline.ExchangeAsync(Requests.RegisterFinish("u0", "b"));
        await WaitUntilAsync(() => enclave.BatchesEntered == 1);
        Task<VaultResponse>[] rest = Enumerable.Range(1, 20).Select(i => harness.Pipeline.ExchangeAsync(Requests.RegisterFinish($"u{i}", "b"))).ToArray();
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 21);
        enclave.Gate.SetResult();
        VaultResponse[] responses = await Task.WhenAll([first, .. rest]);

        Assert.IsTrue(responses.All(r => r.ResultCase == VaultResponse.ResultOneofCase.Registered));
        CollectionAssert.AreEqual(new[] { 1, 20 }, enclave.BatchSizes);
        Assert.AreEqual(21L, harness.Store.State.RecordCount);
        Assert.AreEqual(2UL, harness.Store.State.LogIndex);
    }

    [TestMethod]
    public async Task Two_requests_for_one_user_never_share_a_batch()
    {
        var enclave = new FakeEnclave { Gate = new TaskCompletionSource() };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        await Task.WhenAll(Task.Run(() => enclave.Gate.SetResult()), harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a")));
        enclave.Gate = new TaskCompletionSource();

        int entered = enclave.BatchesEntered;
        Task<VaultResponse> blocker = harness.Pipeline.ExchangeAsync(Requests.Status("zed"));
        await WaitUntilAsync(() => enclave.BatchesEntered == entered + 1);
        Task<VaultResponse>[] logins = Enumerable.Range(0, 4).Select(_ => harness.Pipeline.ExchangeAsync(Requests.LoginStart("alice"))).ToArray();
        Task<VaultResponse> other = harness.Pipeline.ExchangeAsync(Requests.Status("bob"));
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 6);
        enclave.Gate.SetResult();
        VaultResponse[] responses = await Task.WhenAll([blocker, other, .. logins]);

        CollectionAssert.AreEqual(Array.Empty<string>(), enclave.Violations);
        Assert.IsTrue(responses.Skip(2).All(r => r.ResultCase == VaultResponse.ResultOneofCase.LoginStarted));
        Assert.AreEqual(6u, (await harness.Pipeline.ExchangeAsync(Requests.Status("alice"))).Status.AttemptsLeft);
    }

    [TestMethod]
    public async Task A_stale_witness_is_rebuilt_and_retried_once()
    {
        int stale = 1;
        var enclave = new FakeEnclave
        {
            ForceOutcome = (_, opened) => opened?.OperationCase == VaultRequest.OperationOneofCase.Status && Interlocked.Decrement(ref stale) >= 0
                ? new OperationResult { Outcome = OperationOutcome.OutcomeStaleWitness, Detail = "moved" }
                : null,
        };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientRequest request = Requests.Status("alice");
        ClientResponse response = await harness.Pipeline.SubmitAsync(request);

        Assert.AreEqual(VaultResponse.ResultOneofCase.Status, TestChannel.Open(request, response).ResultCase);
        CollectionAssert.AreEqual(new[] { 1, 1 }, enclave.BatchSizes);
        // The retry relays the client's request unchanged; only the witness is rebuilt.
        Assert.AreEqual(enclave.Received[0].Client, enclave.Received[1].Client);
    }

    [TestMethod]
    public async Task A_witness_stale_twice_is_answered_unavailable()
    {
        var enclave = new FakeEnclave { ForceOutcome = (_, _) => new OperationResult { Outcome = OperationOutcome.OutcomeStaleWitness } };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientResponse response = await harness.Pipeline.SubmitAsync(Requests.Status("alice"));

        Assert.AreEqual(ErrorCode.Unavailable, response.Error.Code);
        Assert.AreEqual(2, enclave.BatchSizes.Count);
    }

    [TestMethod]
    public async Task An_integrity_failure_is_answered_internal()
    {
        var enclave = new FakeEnclave { ForceOutcome = (_, _) => new OperationResult { Outcome = OperationOutcome.OutcomeIntegrityFailure, Detail = "bad proof" } };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientResponse response = await harness.Pipeline.SubmitAsync(Requests.Status("alice"));

        Assert.AreEqual(ErrorCode.Internal, response.Error.Code);
        Assert.AreEqual(1, enclave.BatchSizes.Count);
        Assert.AreEqual(ServiceStatus.Serving, harness.Pipeline.Status);
    }

    [TestMethod]
    public async Task Errors_inside_the_channel_reach_the_client_sealed_and_the_host_cannot_tell_them_apart()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));

        ClientRequest request = Requests.LoginFinish("alice", "wrong");
        ClientResponse response = await harness.Pipeline.SubmitAsync(request);
        VaultResponse opened = TestChannel.Open(request, response);

        Assert.AreEqual(ErrorCode.AuthFailed, opened.Error.Code);
        Assert.AreEqual(9u, opened.Error.AttemptsLeft);
        // An AUTH_FAILED is sealed like any answer, so the host counts no error for it.
        Assert.AreEqual(0L, harness.Recorder.Total("hsmvault.host.errors"));
    }

    [TestMethod]
    [DataRow("no user id", ClientRequest.UserIdField, ErrorCode.BadRequest)]
    [DataRow("user id too long", ClientRequest.UserIdField, ErrorCode.TooLarge)]
    [DataRow("no encapsulated key", ClientRequest.EncapsulatedKeyField, ErrorCode.BadRequest)]
    [DataRow("encapsulated key of 64 bytes", ClientRequest.EncapsulatedKeyField, ErrorCode.BadRequest)]
    [DataRow("encapsulated key of 66 bytes", ClientRequest.EncapsulatedKeyField, ErrorCode.BadRequest)]
    [DataRow("compressed encapsulated key", ClientRequest.EncapsulatedKeyField, ErrorCode.BadRequest)]
    [DataRow("no sealed request", ClientRequest.SealedRequestField, ErrorCode.BadRequest)]
    public async Task A_request_whose_clear_part_is_malformed_is_refused_by_field_before_the_hsm(string defect, string field, ErrorCode code)
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, limits: new ClientListenerOptions { MaxUserIdBytes = 8 });
        ClientRequest request = defect switch
        {
            "no user id" => Requests.Status(""),
            "user id too long" => Requests.Status("a-much-too-long-user"),
            _ => Requests.Status("alice"),
        };
        ByteString key = request.EncapsulatedKey;
        switch (defect)
        {
            case "no encapsulated key":
                request.EncapsulatedKey = ByteString.Empty;
                break;
            case "encapsulated key of 64 bytes":
                request.EncapsulatedKey = ByteString.CopyFrom(key.Span[..64]);
                break;
            case "encapsulated key of 66 bytes":
                request.EncapsulatedKey = ByteString.CopyFrom([.. key.Span, 0]);
                break;
            case "compressed encapsulated key":
                // A valid point in the other SEC1 form: the channel only takes uncompressed points, so the size alone rules it out.
                request.EncapsulatedKey = ByteString.CopyFrom([(byte)(2 + (key[64] & 1)), .. key.Span[1..33]]);
                break;
            case "no sealed request":
                request.SealedRequest = ByteString.Empty;
                break;
        }

        ClientResponse response = await harness.Pipeline.SubmitAsync(request);

        Assert.AreEqual(ClientResponse.ResultOneofCase.Error, response.ResultCase, response.ToString());
        Assert.AreEqual(code, response.Error.Code);
        Assert.AreEqual(field, response.Error.Field);
        StringAssert.StartsWith(response.Error.Message, field);
        Assert.AreEqual(request.RequestId, response.RequestId);
        Assert.AreEqual(0, enclave.BatchesEntered, "a malformed request reached the HSM");
        Assert.AreEqual(0, harness.Pipeline.InFlight);
    }

    [TestMethod]
    public async Task A_user_id_of_exactly_the_limit_is_served()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, limits: new ClientListenerOptions { MaxUserIdBytes = 8 });

        VaultResponse response = await harness.Pipeline.ExchangeAsync(Requests.Status("12345678"));

        Assert.AreEqual(VaultResponse.ResultOneofCase.Status, response.ResultCase);
    }

    [TestMethod]
    public async Task A_request_the_enclave_cannot_open_gets_its_clear_error_and_the_rest_of_the_batch_is_served()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        await harness.Pipeline.ExchangeAsync(Requests.RegisterFinish("alice", "blob-a"));
        enclave.Gate = new TaskCompletionSource();
        int entered = enclave.BatchesEntered;
        Task<VaultResponse> blocker = harness.Pipeline.ExchangeAsync(Requests.Status("zed"));
        await WaitUntilAsync(() => enclave.BatchesEntered == entered + 1);

        // Sealed to another fleet's key; moved to another user (the user id is bound into the HPKE info); altered in one bit.
        using var otherFleet = P256HpkeKeyPair.Derive("some other fleet"u8);
        ClientRequest wrongKey = Requests.Seal("mallory", new VaultRequest { Status = new StatusQuery() }, otherFleet.PublicKey);
        ClientRequest moved = Requests.Status("alice").Clone();
        moved.UserId = ByteString.CopyFromUtf8("bob");
        ClientRequest altered = Requests.Status("carol");
        byte[] flipped = altered.SealedRequest.ToByteArray();
        flipped[0] ^= 1;
        altered.SealedRequest = ByteString.CopyFrom(flipped);
        ClientRequest recover = Requests.LoginFinish("alice", "good");
        ClientRequest status = Requests.Status("dave");
        Task<ClientResponse>[] sent = [.. new[] { wrongKey, recover, moved, status, altered }.Select(harness.Pipeline.SubmitAsync)];
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 6);
        enclave.Gate.SetResult();
        ClientResponse[] responses = await Task.WhenAll(sent);
        await blocker;

        foreach ((ClientRequest request, ClientResponse response) in new[] { (wrongKey, responses[0]), (moved, responses[2]), (altered, responses[4]) })
        {
            Assert.AreEqual(ClientResponse.ResultOneofCase.Error, response.ResultCase, response.ToString());
            Assert.AreEqual(ErrorCode.BadRequest, response.Error.Code);
            Assert.AreEqual(ClientRequest.SealedRequestField, response.Error.Field);
            Assert.AreEqual(request.RequestId, response.RequestId);
        }

        Assert.AreEqual("blob-a", TestChannel.Open(recover, responses[1]).Recovered.SealedKeyBlob.ToStringUtf8());
        Assert.AreEqual(VaultResponse.ResultOneofCase.Status, TestChannel.Open(status, responses[3]).ResultCase);
        Assert.AreEqual(5, enclave.BatchSizes[^1], $"batches: {string.Join(",", enclave.BatchSizes)}");
        Assert.AreEqual(ServiceStatus.Serving, harness.Pipeline.Status);
        Assert.AreEqual(3L, harness.Recorder.Total("hsmvault.host.errors", "code", "BadRequest"));
        Assert.AreEqual(VaultResponse.ResultOneofCase.Status, (await harness.Pipeline.ExchangeAsync(Requests.Status("bob"))).ResultCase);
    }

    [TestMethod]
    public async Task The_host_relays_the_request_and_the_sealed_response_unchanged()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        ClientRequest request = Requests.RegisterFinish("alice", "blob-a");
        ClientRequest sentCopy = request.Clone();

        ClientResponse response = await harness.Pipeline.SubmitAsync(request);

        Assert.AreEqual(sentCopy, enclave.Received.Single().Client);
        CollectionAssert.AreEqual(enclave.SealedResponses.Single().ToByteArray(), response.SealedResponse.ToByteArray());
        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, TestChannel.Open(request, response).ResultCase);
    }

    [TestMethod]
    public async Task A_sealed_response_opens_only_for_the_request_it_answers()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        ClientRequest first = Requests.Status("alice");
        ClientRequest second = Requests.Status("alice");

        ClientResponse answer = await harness.Pipeline.SubmitAsync(first);
        byte[] altered = answer.SealedResponse.ToByteArray();
        altered[^1] ^= 1;

        Assert.IsTrue(TestChannel.TryOpen(first, answer.SealedResponse, out _));
        Assert.IsFalse(TestChannel.TryOpen(second, answer.SealedResponse, out _), "a response opened under another request's key");
        Assert.IsFalse(TestChannel.TryOpen(first, ByteString.CopyFrom(altered), out _), "an altered response opened");
    }

    [TestMethod]
    public async Task Every_request_carries_the_witness_of_the_user_it_names()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        await harness.Pipeline.ExchangeAsync(Requests.RegisterFinish("alice", "blob-a"));

        // The host cannot tell a RegisterStart (which needs no record) from the rest, so it sends a witness for it too.
        await harness.Pipeline.ExchangeAsync(Requests.RegisterStart("alice"));
        await harness.Pipeline.ExchangeAsync(Requests.RegisterStart("nobody"));

        CollectionAssert.AreEqual(Array.Empty<string>(), enclave.Violations);
        Operation alice = enclave.Received[^2];
        Operation nobody = enclave.Received[^1];
        Assert.AreEqual(harness.Store.FindRecord(MerkleHashing.UserKey("alice")), alice.Witness.Record);
        Assert.IsNotNull(alice.Witness.Proof);
        Assert.IsNull(nobody.Witness.Record);
        Assert.IsNotNull(nobody.Witness.Proof);
    }

    [TestMethod]
    public async Task Requests_for_one_user_go_in_separate_batches_whatever_they_carry()
    {
        var enclave = new FakeEnclave { Gate = new TaskCompletionSource() };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        Task<VaultResponse> blocker = harness.Pipeline.ExchangeAsync(Requests.Status("zed"));
        await WaitUntilAsync(() => enclave.BatchesEntered == 1);
        // Read-only or not, the host cannot see inside: the user id alone decides.
        Task<VaultResponse>[] alice = [.. new[] { Requests.RegisterStart("alice"), Requests.Status("alice"), Requests.LoginStart("alice") }.Select(harness.Pipeline.ExchangeAsync)];
        Task<VaultResponse> bob = harness.Pipeline.ExchangeAsync(Requests.Status("bob"));
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 5);
        enclave.Gate.SetResult();
        VaultResponse[] responses = await Task.WhenAll([blocker, bob, .. alice]);

        CollectionAssert.AreEqual(new[] { 1, 2, 1, 1 }, enclave.BatchSizes, $"batches: {string.Join(",", enclave.BatchSizes)}");
        CollectionAssert.AreEqual(Array.Empty<string>(), enclave.Violations);
        CollectionAssert.AreEqual(
            new[] { VaultResponse.ResultOneofCase.Status, VaultResponse.ResultOneofCase.Status, VaultResponse.ResultOneofCase.RegisterStarted, VaultResponse.ResultOneofCase.Status, VaultResponse.ResultOneofCase.LoginStarted },
            responses.Select(r => r.ResultCase).ToArray());
    }

    [TestMethod]
    public async Task Requests_beyond_the_in_flight_limit_are_answered_busy()
    {
        var enclave = new FakeEnclave { Gate = new TaskCompletionSource() };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, limits: new ClientListenerOptions { MaxInFlightRequests = 3 });

        Task<VaultResponse>[] admitted = Enumerable.Range(0, 3).Select(i => harness.Pipeline.ExchangeAsync(Requests.Status($"u{i}"))).ToArray();
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 3);
        ClientResponse refused = await harness.Pipeline.SubmitAsync(Requests.Status("late"));
        enclave.Gate.SetResult();
        VaultResponse[] answered = await Task.WhenAll(admitted);

        Assert.AreEqual(ErrorCode.Busy, refused.Error.Code);
        Assert.IsTrue(answered.All(r => r.ResultCase == VaultResponse.ResultOneofCase.Status));
        Assert.AreEqual(1L, harness.Recorder.Total("hsmvault.host.errors", "code", "Busy"));
    }

    [TestMethod]
    public async Task While_the_hsm_is_down_requests_get_unavailable_and_service_resumes_when_it_returns()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        enclave.Down = true;

        ClientResponse during = await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));
        await harness.WaitForAsync(s => s == ServiceStatus.Unavailable);
        ClientResponse stillDown = await harness.Pipeline.SubmitAsync(Requests.Status("alice"));
        Assert.IsFalse(harness.Pipeline.EnclaveReachable);
        enclave.Down = false;
        await harness.WaitForAsync(s => s == ServiceStatus.Serving);
        VaultResponse after = await harness.Pipeline.ExchangeAsync(Requests.RegisterFinish("alice", "a"));

        Assert.AreEqual(ErrorCode.Unavailable, during.Error.Code);
        Assert.AreEqual(ErrorCode.Unavailable, stillDown.Error.Code);
        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, after.ResultCase);
    }

    [TestMethod]
    public async Task A_batch_result_with_the_wrong_number_of_results_fails_the_batch_without_writing_it()
    {
        var enclave = new FakeEnclave { ReportLastEntry = false, RewriteBatch = r => { r.Batch.Results.Clear(); return r; } };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientResponse response = await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));

        Assert.AreEqual(ErrorCode.Unavailable, response.Error.Code);
        Assert.AreEqual(0UL, harness.Store.State.LogIndex);
        // The enclave committed what the host could not follow and cannot hand it back: the store is behind, so the host refuses.
        await harness.WaitForAsync(s => s == ServiceStatus.Refused);
        StringAssert.Contains(harness.Pipeline.StatusDetail, "BEHIND");
    }

    [TestMethod]
    public async Task A_lost_batch_response_is_recovered_from_the_enclaves_last_entry()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("bob", "b"));
        enclave.LoseNextResponse = true;

        ClientResponse lost = await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));
        await harness.WaitForAsync(s => s == ServiceStatus.Serving);
        VaultResponse recovered = await harness.Pipeline.ExchangeAsync(Requests.LoginFinish("alice", "good"));

        Assert.AreEqual(ErrorCode.Unavailable, lost.Error.Code);
        Assert.AreEqual(enclave.LogIndex, harness.Store.State.LogIndex);
        Assert.AreEqual("a", recovered.Recovered.SealedKeyBlob.ToStringUtf8());
    }

    [TestMethod]
    public async Task A_batch_result_whose_root_disagrees_with_its_writes_is_not_persisted()
    {
        var enclave = new FakeEnclave
        {
            ReportLastEntry = false,
            RewriteBatch = r =>
            {
                if (r.Batch.Entry is not null)
                {
                    r.Batch.Entry.MerkleRoot = ByteString.CopyFrom(Enumerable.Repeat((byte)7, 32).ToArray());
                }

                return r;
            },
        };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientResponse response = await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));

        Assert.AreEqual(ErrorCode.Unavailable, response.Error.Code);
        Assert.IsNull(harness.Store.FindRecord(MerkleHashing.UserKey("alice")));
        Assert.AreEqual(0L, harness.Store.State.RecordCount);
    }

    [TestMethod]
    public async Task A_store_behind_the_enclave_is_refused_at_start_up()
    {
        var enclave = new FakeEnclave { ReportLastEntry = false };
        enclave.RegisterBehindTheHostsBack("alice");
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientResponse response = await harness.Pipeline.SubmitAsync(Requests.Status("bob"));

        Assert.AreEqual(ServiceStatus.Refused, harness.Pipeline.Status);
        StringAssert.Contains(harness.Pipeline.StatusDetail, "BEHIND");
        Assert.AreEqual(ErrorCode.Unavailable, response.Error.Code);
    }

    [TestMethod]
    public async Task A_store_two_entries_behind_is_refused_even_when_the_enclave_reports_its_last_entry()
    {
        var enclave = new FakeEnclave();
        enclave.RegisterBehindTheHostsBack("alice");
        enclave.RegisterBehindTheHostsBack("bob");
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        Assert.AreEqual(ServiceStatus.Refused, harness.Pipeline.Status);
        Assert.AreEqual(0UL, harness.Store.State.LogIndex);
    }

    [TestMethod]
    public async Task A_store_ahead_of_the_enclave_is_refused_at_start_up()
    {
        using var directory = new TempDirectory();
        await using (PipelineHarness first = await PipelineHarness.StartAsync(new FakeEnclave(), directory: directory))
        {
            await first.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));
        }

        await using PipelineHarness second = await PipelineHarness.StartAsync(new FakeEnclave(), directory: directory);

        Assert.AreEqual(ServiceStatus.Refused, second.Pipeline.Status);
        StringAssert.Contains(second.Pipeline.StatusDetail, "AHEAD");
    }

    [TestMethod]
    public async Task A_fresh_store_initializes_a_fresh_enclave_and_serves()
    {
        var enclave = new FakeEnclave(initialized: false);
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        Assert.IsTrue(enclave.Initialized);
        Assert.AreEqual(ServiceStatus.Serving, harness.Pipeline.Status);
    }

    [TestMethod]
    public async Task A_restarted_pipeline_over_the_same_store_and_enclave_serves_every_record()
    {
        using var directory = new TempDirectory();
        var enclave = new FakeEnclave();
        await using (PipelineHarness first = await PipelineHarness.StartAsync(enclave, directory: directory))
        {
            await Task.WhenAll(Enumerable.Range(0, 10).Select(i => first.Pipeline.SubmitAsync(Requests.RegisterFinish($"user{i}", $"blob{i}"))));
        }

        await using PipelineHarness second = await PipelineHarness.StartAsync(enclave, directory: directory);

        Assert.AreEqual(ServiceStatus.Serving, second.Pipeline.Status);
        for (int i = 0; i < 10; i++)
        {
            VaultResponse recovered = await second.Pipeline.ExchangeAsync(Requests.LoginFinish($"user{i}", "good"));
            Assert.AreEqual($"blob{i}", recovered.Recovered.SealedKeyBlob.ToStringUtf8());
        }
    }

    [TestMethod]
    public async Task Batches_are_cut_to_fit_the_bridge_frame_size()
    {
        var enclave = new FakeEnclave { Gate = new TaskCompletionSource() };
        HsmOptions hsm = PipelineHarness.FastHsm();
        hsm.MaxFrameBytes = 4096;
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, hsm);

        int entered = enclave.BatchesEntered;
        Task<VaultResponse> blocker = harness.Pipeline.ExchangeAsync(Requests.Status("zed"));
        await WaitUntilAsync(() => enclave.BatchesEntered == entered + 1);
        Task<VaultResponse>[] uploads = Enumerable.Range(0, 12).Select(i => harness.Pipeline.ExchangeAsync(Requests.RegisterFinish($"u{i}", new string('x', 500)))).ToArray();
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 13);
        enclave.Gate.SetResult();
        VaultResponse[] responses = await Task.WhenAll([blocker, .. uploads]);

        Assert.IsTrue(responses.Skip(1).All(r => r.ResultCase == VaultResponse.ResultOneofCase.Registered));
        Assert.IsTrue(enclave.BatchSizes.Count > 2, $"batches: {string.Join(",", enclave.BatchSizes)}");
        Assert.IsTrue(enclave.BatchSizes.Skip(1).All(n => n <= 6), $"batches: {string.Join(",", enclave.BatchSizes)}");
    }

    [TestMethod]
    public async Task An_idle_pipeline_notices_a_dead_hsm_through_its_probe_and_serves_again_when_it_returns()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, health: PipelineHarness.FastProbe());
        Assert.AreEqual(ServiceStatus.Serving, harness.Pipeline.Status);

        enclave.Down = true;
        await harness.WaitForAsync(s => s == ServiceStatus.Unavailable);
        bool reachableWhileDown = harness.Pipeline.EnclaveReachable;
        enclave.Down = false;
        await harness.WaitForAsync(s => s == ServiceStatus.Serving);

        Assert.IsFalse(reachableWhileDown);
        Assert.IsTrue(harness.Pipeline.EnclaveReachable);
        Assert.IsEmpty(enclave.BatchSizes, "no client request was needed to notice");
    }

    [TestMethod]
    public async Task Reconnect_pauses_grow_exponentially_up_to_the_cap_instead_of_repeating_a_fixed_delay()
    {
        var enclave = new FakeEnclave { Down = true };
        var time = new RecordingTimeProvider();
        HsmOptions hsm = PipelineHarness.FastHsm();
        hsm.ReconnectDelay = TimeSpan.FromMilliseconds(100);
        hsm.MaxReconnectDelay = TimeSpan.FromSeconds(2);
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, hsm, time: time);

        // The recorded pauses are the ones the backoff chose; the provider fires them after 1 ms.
        await WaitUntilAsync(() => time.Delays.Count >= 16);
        IReadOnlyList<TimeSpan> delays = time.Delays;

        Assert.IsTrue(delays.All(d => d > TimeSpan.Zero && d <= hsm.MaxReconnectDelay), string.Join(", ", delays));
        Assert.IsTrue(delays.Max() >= TimeSpan.FromSeconds(1), "the pauses did not grow: " + string.Join(", ", delays));
        Assert.IsTrue(delays.Distinct().Count() > 1, "a fixed delay: " + string.Join(", ", delays));
        Assert.AreEqual(ServiceStatus.Unavailable, harness.Pipeline.Status);
    }

    [TestMethod]
    public async Task An_unusable_store_stops_serving_until_it_reads_again()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, health: PipelineHarness.FastProbe());

        harness.FailingStore.Unhealthy = true;
        await harness.WaitForAsync(s => s == ServiceStatus.Unavailable);
        string detail = harness.Pipeline.StatusDetail;
        ClientResponse refused = await harness.Pipeline.SubmitAsync(Requests.Status("alice"));
        harness.FailingStore.Unhealthy = false;
        await harness.WaitForAsync(s => s == ServiceStatus.Serving);

        StringAssert.Contains(detail, "the store test.db is damaged");
        Assert.AreEqual(ErrorCode.Unavailable, refused.Error.Code);
    }

    [TestMethod]
    public async Task A_probe_that_finds_the_enclave_ahead_of_the_store_hands_over_to_the_state_check()
    {
        var enclave = new FakeEnclave { ReportLastEntry = false };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, health: PipelineHarness.FastProbe());

        enclave.RegisterBehindTheHostsBack("mallory");
        await harness.WaitForAsync(s => s == ServiceStatus.Refused);

        StringAssert.Contains(harness.Pipeline.StatusDetail, "BEHIND");
    }

    [TestMethod]
    public void The_sqlite_store_reports_a_deleted_file()
    {
        using var directory = new TempDirectory();
        string path = directory.File("host.db");
        using SqliteVaultStore store = SqliteVaultStore.Open(path);
        string? healthy = store.CheckHealth();

        File.Delete(path);

        Assert.IsNull(healthy);
        StringAssert.Contains(store.CheckHealth(), $"the store {path} no longer exists");
    }

    // The store fails the commit of the enclave's answer to `request`; once it works again the host
    // catches up from the enclave's last entry and serves. Returns the answer the client got.
    private static async Task<ClientResponse> FailOneCommitAsync(PipelineHarness harness, ClientRequest request)
    {
        harness.FailingStore.FailCommits = true;
        ClientResponse failed = await harness.Pipeline.SubmitAsync(request);
        harness.FailingStore.FailCommits = false;
        await harness.WaitForAsync(s => s == ServiceStatus.Serving);
        return failed;
    }

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("condition not reached within 10 s");
            }

            await Task.Delay(5);
        }
    }
}

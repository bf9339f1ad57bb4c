using Google.Protobuf;
using HsmVault.Host.Configuration;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

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

        Assert.AreEqual(ClientResponse.ResultOneofCase.Registered, response.ResultCase);
        Assert.AreEqual(request.RequestId, response.RequestId);
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
    public async Task After_a_failed_commit_the_host_catches_up_from_the_enclaves_last_entry()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        harness.FailingStore.FailCommits = true;

        ClientResponse failed = await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));
        harness.FailingStore.FailCommits = false;
        await harness.WaitForAsync(s => s == ServiceStatus.Serving);
        ClientResponse recovered = await harness.Pipeline.SubmitAsync(Requests.LoginFinish("alice", "good"));

        Assert.AreEqual(ErrorCode.Unavailable, failed.Error.Code);
        Assert.AreEqual("a", recovered.Recovered.SealedKeyBlob.ToStringUtf8());
    }

    [TestMethod]
    public async Task Witnesses_built_from_the_store_are_accepted_for_later_operations()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "blob-a"));
        await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("bob", "blob-b"));

        ClientResponse started = await harness.Pipeline.SubmitAsync(Requests.LoginStart("alice"));
        ClientResponse status = await harness.Pipeline.SubmitAsync(Requests.Status("alice"));
        ClientResponse recovered = await harness.Pipeline.SubmitAsync(Requests.LoginFinish("bob", "good"));

        Assert.AreEqual(ClientResponse.ResultOneofCase.LoginStarted, started.ResultCase);
        Assert.AreEqual(9u, status.Status.AttemptsLeft);
        Assert.AreEqual("blob-b", recovered.Recovered.SealedKeyBlob.ToStringUtf8());
        Assert.AreEqual(1L, harness.Recorder.Total("hsmvault.host.login_attempts"));
    }

    [TestMethod]
    public async Task Requests_arriving_during_a_batch_are_sent_together_in_the_next_one()
    {
        var enclave = new FakeEnclave { Gate = new TaskCompletionSource() };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        Task<ClientResponse> first = harness.Pipeline.SubmitAsync(Requests.RegisterFinish("u0", "b"));
        await WaitUntilAsync(() => enclave.BatchesEntered == 1);
        Task<ClientResponse>[] rest = Enumerable.Range(1, 20).Select(i => harness.Pipeline.SubmitAsync(Requests.RegisterFinish($"u{i}", "b"))).ToArray();
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 21);
        enclave.Gate.SetResult();
        ClientResponse[] responses = await Task.WhenAll([first, .. rest]);

        Assert.IsTrue(responses.All(r => r.ResultCase == ClientResponse.ResultOneofCase.Registered));
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
        Task<ClientResponse> blocker = harness.Pipeline.SubmitAsync(Requests.Status("zed"));
        await WaitUntilAsync(() => enclave.BatchesEntered == entered + 1);
        Task<ClientResponse>[] logins = Enumerable.Range(0, 4).Select(_ => harness.Pipeline.SubmitAsync(Requests.LoginStart("alice"))).ToArray();
        Task<ClientResponse> other = harness.Pipeline.SubmitAsync(Requests.Status("bob"));
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 6);
        enclave.Gate.SetResult();
        ClientResponse[] responses = await Task.WhenAll([blocker, other, .. logins]);

        CollectionAssert.AreEqual(Array.Empty<string>(), enclave.Violations);
        Assert.IsTrue(responses.Skip(2).All(r => r.ResultCase == ClientResponse.ResultOneofCase.LoginStarted));
        Assert.AreEqual(6u, (await harness.Pipeline.SubmitAsync(Requests.Status("alice"))).Status.AttemptsLeft);
    }

    [TestMethod]
    public async Task A_stale_witness_is_rebuilt_and_retried_once()
    {
        int stale = 1;
        var enclave = new FakeEnclave
        {
            ForceOutcome = op => op.Client.OperationCase == ClientRequest.OperationOneofCase.Status && Interlocked.Decrement(ref stale) >= 0
                ? new OperationResult { Outcome = OperationOutcome.OutcomeStaleWitness, Detail = "moved" }
                : null,
        };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientResponse response = await harness.Pipeline.SubmitAsync(Requests.Status("alice"));

        Assert.AreEqual(ClientResponse.ResultOneofCase.Status, response.ResultCase);
        CollectionAssert.AreEqual(new[] { 1, 1 }, enclave.BatchSizes);
    }

    [TestMethod]
    public async Task A_witness_stale_twice_is_answered_unavailable()
    {
        var enclave = new FakeEnclave { ForceOutcome = _ => new OperationResult { Outcome = OperationOutcome.OutcomeStaleWitness } };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientResponse response = await harness.Pipeline.SubmitAsync(Requests.Status("alice"));

        Assert.AreEqual(ErrorCode.Unavailable, response.Error.Code);
        Assert.AreEqual(2, enclave.BatchSizes.Count);
    }

    [TestMethod]
    public async Task An_integrity_failure_is_answered_internal()
    {
        var enclave = new FakeEnclave { ForceOutcome = _ => new OperationResult { Outcome = OperationOutcome.OutcomeIntegrityFailure, Detail = "bad proof" } };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);

        ClientResponse response = await harness.Pipeline.SubmitAsync(Requests.Status("alice"));

        Assert.AreEqual(ErrorCode.Internal, response.Error.Code);
        Assert.AreEqual(1, enclave.BatchSizes.Count);
        Assert.AreEqual(ServiceStatus.Serving, harness.Pipeline.Status);
    }

    [TestMethod]
    public async Task Client_errors_from_the_enclave_are_relayed_unchanged()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave);
        await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));

        ClientRequest request = Requests.LoginFinish("alice", "wrong");
        ClientResponse response = await harness.Pipeline.SubmitAsync(request);

        Assert.AreEqual(ErrorCode.AuthFailed, response.Error.Code);
        Assert.AreEqual(9u, response.Error.AttemptsLeft);
        Assert.AreEqual(request.RequestId, response.RequestId);
    }

    [TestMethod]
    public async Task Requests_without_an_operation_or_with_a_bad_user_id_are_refused_before_the_hsm()
    {
        var enclave = new FakeEnclave();
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, limits: new ClientListenerOptions { MaxUserIdBytes = 8 });

        ClientResponse empty = await harness.Pipeline.SubmitAsync(new ClientRequest { RequestId = 5 });
        ClientResponse noUser = await harness.Pipeline.SubmitAsync(Requests.Status(""));
        ClientResponse longUser = await harness.Pipeline.SubmitAsync(Requests.LoginStart("a-much-too-long-user"));

        Assert.AreEqual(ErrorCode.BadRequest, empty.Error.Code);
        Assert.AreEqual(5UL, empty.RequestId);
        Assert.AreEqual("operation", empty.Error.Field);
        Assert.AreEqual(ErrorCode.BadRequest, noUser.Error.Code);
        Assert.AreEqual("status.user_id", noUser.Error.Field);
        Assert.AreEqual(ErrorCode.TooLarge, longUser.Error.Code);
        Assert.AreEqual("login_start.user_id", longUser.Error.Field);
        Assert.AreEqual(0, enclave.BatchSizes.Count);
    }

    [TestMethod]
    public async Task Requests_beyond_the_in_flight_limit_are_answered_busy()
    {
        var enclave = new FakeEnclave { Gate = new TaskCompletionSource() };
        await using PipelineHarness harness = await PipelineHarness.StartAsync(enclave, limits: new ClientListenerOptions { MaxInFlightRequests = 3 });

        Task<ClientResponse>[] admitted = Enumerable.Range(0, 3).Select(i => harness.Pipeline.SubmitAsync(Requests.Status($"u{i}"))).ToArray();
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 3);
        ClientResponse refused = await harness.Pipeline.SubmitAsync(Requests.Status("late"));
        enclave.Gate.SetResult();
        ClientResponse[] answered = await Task.WhenAll(admitted);

        Assert.AreEqual(ErrorCode.Busy, refused.Error.Code);
        Assert.IsTrue(answered.All(r => r.ResultCase == ClientResponse.ResultOneofCase.Status));
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
        ClientResponse after = await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("alice", "a"));

        Assert.AreEqual(ErrorCode.Unavailable, during.Error.Code);
        Assert.AreEqual(ErrorCode.Unavailable, stillDown.Error.Code);
        Assert.AreEqual(ClientResponse.ResultOneofCase.Registered, after.ResultCase);
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
        ClientResponse recovered = await harness.Pipeline.SubmitAsync(Requests.LoginFinish("alice", "good"));

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
            ClientResponse recovered = await second.Pipeline.SubmitAsync(Requests.LoginFinish($"user{i}", "good"));
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
        Task<ClientResponse> blocker = harness.Pipeline.SubmitAsync(Requests.Status("zed"));
        await WaitUntilAsync(() => enclave.BatchesEntered == entered + 1);
        Task<ClientResponse>[] uploads = Enumerable.Range(0, 12).Select(i => harness.Pipeline.SubmitAsync(Requests.RegisterFinish($"u{i}", new string('x', 500)))).ToArray();
        await WaitUntilAsync(() => harness.Pipeline.InFlight == 13);
        enclave.Gate.SetResult();
        ClientResponse[] responses = await Task.WhenAll([blocker, .. uploads]);

        Assert.IsTrue(responses.Skip(1).All(r => r.ResultCase == ClientResponse.ResultOneofCase.Registered));
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

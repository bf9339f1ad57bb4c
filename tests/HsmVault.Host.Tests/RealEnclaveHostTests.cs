using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave;
using HsmVault.Host.Listener;
using HsmVault.Host.Pipeline;
using HsmVault.Protocol;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HsmVault.Host.Tests;

/// <summary>The whole host over TCP in front of the real enclave (in-process, seeded in-memory HSM).</summary>
[TestClass]
public sealed class RealEnclaveHostTests
{
    private const ulong Seed = 4242;

    [TestMethod]
    public async Task Register_and_recover_through_the_host_returns_the_uploaded_blob()
    {
        using var directory = new TempDirectory();
        var hsm = new InMemoryHsmServices(Seed);
        await using RunningHost host = await RunningHost.StartAsync(directory.File("host.db"), new VaultEnclave(hsm, VaultPolicy.Default));
        var user = new OpaqueUser("alice", hsm);

        await user.RegisterAsync(host, "correct horse", "backup-key-of-alice"u8.ToArray());
        byte[]? blob = await user.RecoverAsync(host, "correct horse");

        CollectionAssert.AreEqual("backup-key-of-alice"u8.ToArray(), blob);
        Assert.AreEqual(ServiceStatus.Serving, host.Pipeline.Status);
    }

    [TestMethod]
    public async Task Wrong_guesses_through_the_host_are_counted_and_the_right_password_resets_them()
    {
        using var directory = new TempDirectory();
        var hsm = new InMemoryHsmServices(Seed);
        await using RunningHost host = await RunningHost.StartAsync(directory.File("host.db"), new VaultEnclave(hsm, VaultPolicy.Default));
        var user = new OpaqueUser("bob", hsm);
        await user.RegisterAsync(host, "right", [1, 2, 3]);

        Assert.IsNull(await user.RecoverAsync(host, "wrong-1"));
        Assert.IsNull(await user.RecoverAsync(host, "wrong-2"));
        VaultResponse status = await user.ExchangeAsync(host, new VaultRequest { Status = new StatusQuery() });
        byte[]? blob = await user.RecoverAsync(host, "right");
        VaultResponse after = await user.ExchangeAsync(host, new VaultRequest { Status = new StatusQuery() });

        Assert.AreEqual(8u, status.Status.AttemptsLeft);
        CollectionAssert.AreEqual(new byte[] { 1, 2, 3 }, blob);
        Assert.AreEqual(10u, after.Status.AttemptsLeft);
    }

    [TestMethod]
    public async Task A_restarted_host_and_hsm_keep_every_record()
    {
        using var directory = new TempDirectory();
        var nvram = new InMemoryNvram();
        string[] names = ["u1", "u2", "u3", "u4", "u5", "u6"];
        await using (RunningHost first = await RunningHost.StartAsync(directory.File("host.db"), new VaultEnclave(new InMemoryHsmServices(Seed, nvram), VaultPolicy.Default)))
        {
            var hsm = new InMemoryHsmServices(Seed, nvram);
            await Task.WhenAll(names.Select(name => new OpaqueUser(name, hsm).RegisterAsync(first, "pw-" + name, Encoding.UTF8.GetBytes("blob-" + name))));
        }

        var restartedHsm = new InMemoryHsmServices(Seed, nvram);
        await using RunningHost second = await RunningHost.StartAsync(directory.File("host.db"), new VaultEnclave(restartedHsm, VaultPolicy.Default));

        Assert.AreEqual(ServiceStatus.Serving, second.Pipeline.Status, second.Pipeline.StatusDetail);
        Assert.AreEqual(names.Length, second.Pipeline.StoreState.RecordCount);
        foreach (string name in names)
        {
            byte[]? blob = await new OpaqueUser(name, restartedHsm).RecoverAsync(second, "pw-" + name);
            Assert.AreEqual("blob-" + name, blob is null ? null : Encoding.UTF8.GetString(blob));
        }
    }

    [TestMethod]
    public async Task Concurrent_clients_are_group_committed_into_shared_batches()
    {
        using var directory = new TempDirectory();
        var hsm = new InMemoryHsmServices(Seed);
        var bridge = new InProcessEnclaveBridge(new VaultEnclave(hsm, VaultPolicy.Default));
        await using RunningHost host = await RunningHost.StartAsync(directory.File("host.db"), bridge);
        OpaqueUser[] users = Enumerable.Range(0, 24).Select(i => new OpaqueUser($"user-{i}", hsm)).ToArray();

        await Task.WhenAll(users.Select(u => u.RegisterAsync(host, "pw", [7])));
        byte[]?[] blobs = await Task.WhenAll(users.Select(u => u.RecoverAsync(host, "pw")));

        Assert.IsTrue(blobs.All(b => b is [7]));
        Assert.IsTrue(bridge.BatchSizes.Max() > 1, $"batch sizes: {string.Join(",", bridge.BatchSizes)}");
    }

    [TestMethod]
    public async Task A_request_the_real_enclave_cannot_open_gets_the_clear_error_and_its_batch_mate_is_served()
    {
        using var directory = new TempDirectory();
        var hsm = new InMemoryHsmServices(Seed);
        var bridge = new InProcessEnclaveBridge(new VaultEnclave(hsm, VaultPolicy.Default));
        await using RunningHost host = await RunningHost.StartAsync(directory.File("host.db"), bridge);
        var alice = new OpaqueUser("alice", hsm);
        await alice.RegisterAsync(host, "pw", [1]);
        bridge.Gate = new TaskCompletionSource();
        int entered = bridge.BatchesEntered;
        Task<ClientResponse> blocker = host.Pipeline.SubmitAsync(new OpaqueUser("zed", hsm).Seal(new VaultRequest { Status = new StatusQuery() }));
        await VaultPipelineTests.WaitUntilAsync(() => bridge.BatchesEntered == entered + 1);

        // Sealed to the test fleet's key, not this HSM's: well-formed for the host, unopenable for the enclave.
        ClientRequest foreign = Requests.Status("mallory");
        ClientRequest status = alice.Seal(new VaultRequest { Status = new StatusQuery() });
        Task<ClientResponse> refusedTask = host.Pipeline.SubmitAsync(foreign);
        Task<ClientResponse> servedTask = host.Pipeline.SubmitAsync(status);
        await VaultPipelineTests.WaitUntilAsync(() => host.Pipeline.InFlight == 3);
        bridge.Gate.SetResult();
        ClientResponse refused = await refusedTask;
        ClientResponse served = await servedTask;
        await blocker;

        Assert.AreEqual(ClientResponse.ResultOneofCase.Error, refused.ResultCase, refused.ToString());
        Assert.AreEqual(ErrorCode.BadRequest, refused.Error.Code);
        Assert.AreEqual(ClientRequest.SealedRequestField, refused.Error.Field);
        Assert.AreEqual(foreign.RequestId, refused.RequestId);
        Assert.AreEqual((uint)VaultPolicy.Default.AttemptLimit, TestChannel.Open(status, served).Status.AttemptsLeft);
        Assert.AreEqual(2, bridge.BatchSizes[^1], $"batch sizes: {string.Join(",", bridge.BatchSizes)}");
        Assert.AreEqual(ServiceStatus.Serving, host.Pipeline.Status);
    }

    [TestMethod]
    public async Task The_real_enclaves_sealed_response_opens_only_for_the_client_that_sent_the_request()
    {
        using var directory = new TempDirectory();
        var hsm = new InMemoryHsmServices(Seed);
        await using RunningHost host = await RunningHost.StartAsync(directory.File("host.db"), new VaultEnclave(hsm, VaultPolicy.Default));
        var alice = new OpaqueUser("alice", hsm);
        ClientRequest request = alice.Seal(new VaultRequest { Status = new StatusQuery() });
        ClientRequest other = alice.Seal(new VaultRequest { Status = new StatusQuery() });

        ClientResponse response = await host.SendAsync(request);

        // Alice is not registered: the vault says so only inside the channel, so the host relays ciphertext, not an error.
        Assert.AreEqual(ClientResponse.ResultOneofCase.SealedResponse, response.ResultCase, response.ToString());
        Assert.IsTrue(TestChannel.TryOpen(request, response.SealedResponse, out VaultResponse? opened));
        Assert.AreEqual(ErrorCode.NotRegistered, opened!.Error.Code);
        Assert.AreEqual(0L, host.Pipeline.StoreState.RecordCount);
        Assert.IsFalse(TestChannel.TryOpen(other, response.SealedResponse, out _), "the answer opened for another request");
    }

    /// <summary>A running host daemon (VaultHost) on free loopback ports.</summary>
    internal sealed class RunningHost : IAsyncDisposable, IClientSender
    {
        private readonly IHost _host;

        private RunningHost(IHost host)
        {
            _host = host;
        }

        public VaultPipeline Pipeline => _host.Services.GetRequiredService<VaultPipeline>();

        public static Task<RunningHost> StartAsync(string storePath, VaultEnclave enclave) => StartAsync(storePath, new InProcessEnclaveBridge(enclave));

        public static Task<RunningHost> StartAsync(string storePath, InProcessEnclaveBridge bridge) => StartAsync([$"--Store:Path={storePath}"], bridge);

        /// <summary>A host whose store the settings <paramref name="store"/> choose (e.g. --Store:Kind=postgres).</summary>
        public static async Task<RunningHost> StartAsync(string[] store, InProcessEnclaveBridge bridge)
        {
            IHost host = VaultHost.Build(
                ["--Host:Port=0", "--Health:Enabled=false", .. store, "--Logging:LogLevel:Default=Warning"],
                _ => bridge);
            await host.StartAsync();
            var running = new RunningHost(host);
            await VaultPipelineTests.WaitUntilAsync(() => running.Pipeline.Status != ServiceStatus.Starting);
            return running;
        }

        public Task<ClientResponse> SendAsync(ClientRequest request) =>
            ListenerHarness.ExchangeAsync(_host.Services.GetRequiredService<ClientListener>().LocalEndPoint!.Port, request);

        public async ValueTask DisposeAsync()
        {
            await _host.StopAsync();
            _host.Dispose();
        }
    }

    /// <summary>The OPAQUE client side of one user, speaking to a <see cref="RunningHost"/> through the channel, as a real client does.</summary>
    /// <summary>Something that carries a sealed client request to a vault and brings its answer back.</summary>
    internal interface IClientSender
    {
        Task<ClientResponse> SendAsync(ClientRequest request);
    }

    internal sealed class OpaqueUser
    {
        private readonly OpaqueClient _client = new(OpaqueConfiguration.ForTesting(Encoding.UTF8.GetBytes(VaultPolicy.DefaultOpaqueContext)), SystemRandomSource.Instance);
        private readonly string _name;
        private readonly byte[] _serverKey;
        private readonly byte[] _channelKey;

        public OpaqueUser(string name, InMemoryHsmServices hsm)
        {
            _name = name;
            UserId = ByteString.CopyFromUtf8(name);
            _serverKey = hsm.AkePublicKey;
            _channelKey = hsm.ChannelPublicKey;
        }

        public ByteString UserId { get; }

        /// <summary>A request for this user sealed to the fleet's channel key.</summary>
        public ClientRequest Seal(VaultRequest operation) => Requests.Seal(_name, operation, _channelKey);

        /// <summary>Seals <paramref name="operation"/>, sends it through the host and opens the vault's answer.</summary>
        public async Task<VaultResponse> ExchangeAsync(IClientSender host, VaultRequest operation)
        {
            ClientRequest request = Seal(operation);
            return TestChannel.Open(request, await host.SendAsync(request));
        }

        public async Task RegisterAsync(IClientSender host, string password, byte[] blob)
        {
            byte[] request = _client.CreateRegistrationRequest(Encoding.UTF8.GetBytes(password), out ClientRegistrationState state);
            VaultResponse started = await ExchangeAsync(host, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(request) } });
            Assert.AreEqual(VaultResponse.ResultOneofCase.RegisterStarted, started.ResultCase, started.ToString());
            RegistrationResult result = _client.FinalizeRegistration(state, started.RegisterStarted.RegistrationResponse.Span, _serverKey, UserId.Span);
            VaultResponse finished = await ExchangeAsync(host, new VaultRequest
            {
                RegisterFinish = new RegisterFinish
                {
                    RegistrationSession = started.RegisterStarted.RegistrationSession,
                    RegistrationRecord = ByteString.CopyFrom(result.Record),
                    EncryptedKeyBlob = ByteString.CopyFrom(blob),
                },
            });
            Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, finished.ResultCase, finished.ToString());
        }

        /// <summary>The recovered blob, or null when the password is wrong.</summary>
        public async Task<byte[]?> RecoverAsync(IClientSender host, string password)
        {
            byte[] ke1 = _client.GenerateKE1(Encoding.UTF8.GetBytes(password), out ClientLoginState state);
            VaultResponse started = await ExchangeAsync(host, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(ke1) } });
            Assert.AreEqual(VaultResponse.ResultOneofCase.LoginStarted, started.ResultCase, started.ToString());
            LoginResult local;
            try
            {
                local = _client.GenerateKE3(state, started.LoginStarted.Ke2.Span, _serverKey, UserId.Span);
            }
            catch (OpaqueAuthenticationException)
            {
                return null;
            }

            VaultResponse finished = await ExchangeAsync(host, new VaultRequest
            {
                LoginFinish = new LoginFinish { LoginSession = started.LoginStarted.LoginSession, Ke3 = ByteString.CopyFrom(local.KE3), Action = LoginAction.Recover },
            });
            Assert.AreEqual(VaultResponse.ResultOneofCase.Recovered, finished.ResultCase, finished.ToString());
            Assert.IsTrue(RecoveredBlobCipher.TryOpen(local.SessionKey, UserId.Span, finished.Recovered.SealedKeyBlob.Span, out byte[] blob));
            return blob;
        }
    }
}

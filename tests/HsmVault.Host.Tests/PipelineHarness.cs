using HsmVault.Host.Bridge;
using HsmVault.Host.Configuration;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Store;
using HsmVault.Host.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;

namespace HsmVault.Host.Tests;

/// <summary>A started <see cref="VaultPipeline"/> over a temporary SQLite store and a bridge.</summary>
internal sealed class PipelineHarness : IAsyncDisposable
{
    private readonly TempDirectory _directory;
    private readonly bool _ownsDirectory;

    private PipelineHarness(TempDirectory directory, bool ownsDirectory, IHsmBridge bridge, HsmOptions hsm, ClientListenerOptions limits, HealthOptions health, TimeProvider? time)
    {
        _directory = directory;
        _ownsDirectory = ownsDirectory;
        Bridge = bridge;
        Store = SqliteVaultStore.Open(StorePath);
        FailingStore = new FailingVaultStore(Store);
        Metrics = new HostMetrics();
        Recorder = new MetricRecorder(Metrics);
        Pipeline = new VaultPipeline(FailingStore, bridge, hsm, limits, Metrics, NullLogger<VaultPipeline>.Instance, health, time);
    }

    public IHsmBridge Bridge { get; }

    public SqliteVaultStore Store { get; }

    /// <summary>The store as the pipeline sees it; set <see cref="FailingVaultStore.FailCommits"/> to break commits.</summary>
    public FailingVaultStore FailingStore { get; }

    public HostMetrics Metrics { get; }

    /// <summary>What <see cref="Metrics"/> recorded.</summary>
    public MetricRecorder Recorder { get; }

    public VaultPipeline Pipeline { get; }

    public string StorePath => _directory.File("host.db");

    public static HsmOptions FastHsm() => new()
    {
        Endpoint = "tcp:127.0.0.1:1",
        ReconnectDelay = TimeSpan.FromMilliseconds(20),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(100),
        RequestTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>Probes every 50 ms, so a test sees a dead HSM or store quickly (it waits for the status, never for a time).</summary>
    public static HealthOptions FastProbe() => new()
    {
        ProbeInterval = TimeSpan.FromMilliseconds(50),
        ProbeTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>Starts a pipeline; waits until it leaves Starting (serving, unavailable or refused).</summary>
    public static async Task<PipelineHarness> StartAsync(IHsmBridge bridge, HsmOptions? hsm = null, ClientListenerOptions? limits = null, TempDirectory? directory = null, HealthOptions? health = null, TimeProvider? time = null)
    {
        var harness = new PipelineHarness(directory ?? new TempDirectory(), directory is null, bridge, hsm ?? FastHsm(), limits ?? new ClientListenerOptions(), health ?? new HealthOptions(), time);
        await harness.Pipeline.StartAsync(CancellationToken.None);
        await harness.WaitForAsync(status => status != ServiceStatus.Starting);
        return harness;
    }

    public async Task WaitForAsync(Func<ServiceStatus, bool> condition)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition(Pipeline.Status))
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"pipeline status stayed {Pipeline.Status}: {Pipeline.StatusDetail}");
            }

            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Pipeline.StopAsync(timeout.Token);
        Pipeline.Dispose();
        Store.Dispose();
        Recorder.Dispose();
        Metrics.Dispose();
        if (_ownsDirectory)
        {
            _directory.Dispose();
        }
    }
}

using System.Net;
using HsmVault.Transparency.Notes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace HsmVault.Witness;

/// <summary>
/// A running witness: its key, store and logs, and the HTTP API on loopback (never on another
/// interface: the witness's only authentication is the operator's signatures, and its API is
/// for the operator's tools and a local relay). Used by the process and, in-process, by tests.
/// </summary>
internal sealed class WitnessServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http;

    private WitnessServer(WebApplication app, HttpClient http, WitnessLog log, CheckpointCosigner? cosigner, Uri address)
    {
        _app = app;
        _http = http;
        Log = log;
        Cosigner = cosigner;
        Address = address;
    }

    public WitnessLog Log { get; }

    public CheckpointCosigner? Cosigner { get; }

    /// <summary>The base URL, e.g. http://127.0.0.1:7380/.</summary>
    public Uri Address { get; }

    public static async Task<WitnessServer> StartAsync(WitnessOptions options, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(options.StateDirectory);
        NoteSigningKey key = WitnessKeyFile.LoadOrCreate(options.KeyPath, options.Name, NoteSignatureType.Ed25519);
        WitnessStore store;
        try
        {
            store = WitnessStore.Open(options.DatabasePath);
        }
        catch
        {
            key.Dispose();
            throw;
        }

        WitnessLog log;
        try
        {
            log = WitnessLog.Open(store, key, options.OperatorKey);
        }
        catch
        {
            store.Dispose();
            key.Dispose();
            throw;
        }

        CheckpointCosigner? cosigner = options.CosignedLogs.Count == 0
            ? null
            : new CheckpointCosigner(store, WitnessKeyFile.LoadOrCreate(options.CosignerKeyPath, options.Name, NoteSignatureType.Ed25519Cosignature), options.CosignedLogs, options.Clock);
        var http = new HttpClient { Timeout = options.CosignerTimeout };
        var collector = new CosignatureCollector(log, options.Cosigners, http);

        // The content root is the state folder, so no stray appsettings.json changes the witness.
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = options.StateDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter<ConsoleLoggerProvider>(null, LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.Port));
        WebApplication app = builder.Build();
        WitnessApi.Map(app, log, collector, cosigner);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            http.Dispose();
            log.Dispose();
            throw;
        }

        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new WitnessServer(app, http, log, cosigner, new Uri(bound.TrimEnd('/') + "/"));
    }

    /// <summary>Waits until the host stops (Ctrl+C or SIGTERM in the process).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
        Log.Dispose();
    }
}

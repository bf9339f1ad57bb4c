using System.Net;
using HsmVault.Host.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace HsmVault.Host.Health;

/// <summary>
/// The loopback HTTP endpoint, on Kestrel: <c>/health/live</c> (the process and its pipeline
/// run), <c>/health/ready</c> and <c>/health</c> (the vault serves; 503 otherwise, with a JSON body
/// naming status, detail, HSM reachability and the store's log index), and <c>/metrics</c> (the
/// <c>HsmVault.Host</c> meter in the Prometheus text format, through OpenTelemetry's exporter).
/// It is a small web application of its own, started and stopped as one of the host's services,
/// so it stops first on shutdown and does not exist at all when <c>Health:Enabled</c> is false.
/// </summary>
public sealed partial class HealthEndpoint : IHostedService, IAsyncDisposable
{
    /// <summary>Where Prometheus scrapes.</summary>
    public const string MetricsPath = "/metrics";

    private readonly HealthOptions _options;
    private readonly IServiceProvider _services;
    private readonly ILogger<HealthEndpoint> _logger;
    private WebApplication? _app;

    public HealthEndpoint(HealthOptions options, IServiceProvider services, ILogger<HealthEndpoint> logger)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _services = services ?? throw new ArgumentNullException(nameof(services));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>Where the endpoint is bound (the real port when configured with port 0), or null when disabled or stopped.</summary>
    public IPEndPoint? LocalEndPoint { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        var address = IPAddress.Parse(_options.ListenAddress);
        WebApplication app = Build(address);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex) when (ex.InnerException is AddressInUseException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new HostStartException($"Health:Port: cannot listen on {new IPEndPoint(address, _options.Port)}: the address is already in use (another process listens there; stop it or choose another Health:Port)", ex);
        }
        catch (IOException ex)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new HostStartException($"Health:ListenAddress/Health:Port: cannot listen on {new IPEndPoint(address, _options.Port)}: {ex.Message}", ex);
        }

        _app = app;
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(bound);
        LocalEndPoint = new IPEndPoint(address, uri.Port);
        LogListening($"http://{LocalEndPoint}");
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
            LocalEndPoint = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }

    private WebApplication Build(IPAddress address)
    {
        // An empty builder: no appsettings, environment or command line of its own (the host's
        // configuration already decided everything) and no console lifetime racing the host's for SIGTERM.
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(HealthEndpoint).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestHeadersTotalSize = 8 * 1024;
            kestrel.Listen(address, _options.Port);
        });
        builder.Services.AddSingleton(_services.GetRequiredService<ILoggerFactory>());
        builder.Services.AddLogging();
        builder.Services.AddSingleton<IHostLifetime, HostOwnedLifetime>();
        builder.Services.AddSingleton(_services.GetRequiredService<HealthCheckService>());

        WebApplication app = builder.Build();
        app.UseHealthChecks("/health/live", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(HealthTags.Live),
            ResponseWriter = HealthResponseWriter.WriteLivenessAsync,
        });
        var ready = new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(HealthTags.Ready),
            ResponseWriter = HealthResponseWriter.WriteReadinessAsync,
        };
        app.UseHealthChecks("/health/ready", ready);
        app.UseHealthChecks("/health", ready);
        app.UseOpenTelemetryPrometheusScrapingEndpoint(
            meterProvider: _services.GetRequiredService<MeterProvider>(),
            predicate: null,
            path: MetricsPath,
            configureBranchedPipeline: null,
            optionsName: null);
        return app;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Health endpoint on {Url}/health (live, ready) and {Url}/metrics")]
    private partial void LogListening(string url);
}

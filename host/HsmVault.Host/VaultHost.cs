using HsmVault.Host.Bridge;
using HsmVault.Host.Configuration;
using HsmVault.Host.Fleet;
using HsmVault.Host.Health;
using HsmVault.Host.Listener;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Store;
using HsmVault.Host.Telemetry;
using HsmVault.Host.Transparency;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace HsmVault.Host;

/// <summary>
/// Builds the host daemon: configuration (appsettings.json next to the binary, an optional
/// <c>--config</c> file, <c>HSMVAULT_</c> environment variables, then the command line, later
/// sources winning), console logging (journald-friendly under systemd), and the services in the
/// order they must stop: health endpoint, then client listener (drains connections), then the
/// pipeline (answers what was admitted).
/// </summary>
public static class VaultHost
{
    /// <summary>The environment variable prefix: HSMVAULT_Hsm__Endpoint sets Hsm:Endpoint.</summary>
    public const string EnvironmentPrefix = "HSMVAULT_";

    /// <summary>
    /// Builds the host from <paramref name="args"/>. <paramref name="bridge"/> replaces the socket
    /// bridge (a vendor bridge, or a test double). Throws <see cref="HostConfigurationException"/>
    /// listing every problem at once: unreadable or malformed configuration files, stray arguments,
    /// unknown keys, values that do not convert, and options that fail validation.
    /// </summary>
    public static IHost Build(string[] args, Func<IServiceProvider, IHsmBridge>? bridge = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = AppContext.BaseDirectory,
        });
        List<string> problems = HostConfigurationSources.Add(
            builder.Configuration, args, Path.Combine(AppContext.BaseDirectory, "appsettings.json"), EnvironmentPrefix);

        // Bind once up front only to find values that do not convert; the options framework binds
        // (and validates, on start) the instances the services get.
        var listener = Bind<ClientListenerOptions>(builder.Configuration, ClientListenerOptions.Section, problems);
        var hsm = Bind<HsmOptions>(builder.Configuration, HsmOptions.Section, problems);
        var store = Bind<StoreOptions>(builder.Configuration, StoreOptions.Section, problems);
        var health = Bind<HealthOptions>(builder.Configuration, HealthOptions.Section, problems);
        var fleet = Bind<FleetOptions>(builder.Configuration, FleetOptions.Section, problems);
        var transparency = Bind<TransparencyOptions>(builder.Configuration, TransparencyOptions.Section, problems);
        if (problems.Count > 0)
        {
            // The host will not be built, so validate here too: every problem in one message.
            problems.AddRange([.. listener.Problems(), .. hsm.Problems(bridge is null), .. store.Problems(), .. health.Problems(), .. fleet.Problems(), .. transparency.Problems()]);
            throw new HostConfigurationException(problems);
        }

        AddOptions<ClientListenerOptions>(builder, ClientListenerOptions.Section, o => o.Problems());
        AddOptions<HsmOptions>(builder, HsmOptions.Section, o => o.Problems(endpointRequired: bridge is null));
        AddOptions<StoreOptions>(builder, StoreOptions.Section, o => o.Problems());
        AddOptions<HealthOptions>(builder, HealthOptions.Section, o => o.Problems());
        AddOptions<FleetOptions>(builder, FleetOptions.Section, o => o.Problems());
        AddOptions<TransparencyOptions>(builder, TransparencyOptions.Section, o => o.Problems());

        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddConsole();

        // A failed start is reported by Program as one plain line with its exit code; the hosting
        // layer's own "Hosting failed to start" error would repeat it with a stack trace and driver codes.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = listener.DrainTimeout + TimeSpan.FromSeconds(5));
        builder.Services.TryAddSingleton(TimeProvider.System);

        builder.Services.AddSingleton<HostMetrics>();
        builder.Services.AddSingleton<IVaultStore>(sp => OpenStore(sp.GetRequiredService<StoreOptions>(), sp.GetRequiredService<ILoggerFactory>()));
        if (bridge is null)
        {
            builder.Services.AddSingleton<IHsmBridge, SocketHsmBridge>();
        }
        else
        {
            builder.Services.AddSingleton(bridge);
        }

        if (fleet.Enabled)
        {
            // A fleet member: one host per HSM, relaying between its HSM, the shared store and its peers.
            builder.Services.AddSingleton<FleetPipeline>();
            builder.Services.AddSingleton<IClientRequestHandler>(sp => Announcing(sp, sp.GetRequiredService<FleetPipeline>()));
            builder.Services.AddSingleton<IVaultService>(sp => sp.GetRequiredService<FleetPipeline>());
            builder.Services.AddSingleton<PeerListener>();
        }
        else
        {
            builder.Services.AddSingleton<VaultPipeline>();
            builder.Services.AddSingleton<IClientRequestHandler>(sp => Announcing(sp, sp.GetRequiredService<VaultPipeline>()));
            builder.Services.AddSingleton<IVaultService>(sp => sp.GetRequiredService<VaultPipeline>());
        }

        if (transparency.Enabled)
        {
            // Clients that accept fleets over the air ask which fleet this host serves.
            builder.Services.AddSingleton<FleetAnnouncer>();
        }

        builder.Services.AddSingleton<ClientListener>();
        builder.Services.AddSingleton<HealthEndpoint>();
        builder.Services.AddHealthChecks()
            .AddCheck<VaultLivenessCheck>("pipeline", tags: [HealthTags.Live])
            .AddCheck<VaultReadinessCheck>("vault", tags: [HealthTags.Ready]);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("hsmvault-host"))
            .WithMetrics(metrics => metrics
                .AddMeter(HostMetrics.MeterName)
                // The runtime's own meter: GC heap sizes, working set, thread pool (dotnet_* series).
                .AddMeter("System.Runtime")
                .AddPrometheusExporter(prometheus =>
                {
                    // Each scrape sees the current values; a loopback scraper every few seconds costs nothing.
                    prometheus.ScrapeResponseCacheDurationMilliseconds = 0;
                }));

        // Hosted services stop in reverse order: health, listener (drain), then pipeline.
        if (fleet.Enabled)
        {
            builder.Services.AddHostedService(sp => sp.GetRequiredService<FleetPipeline>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<PeerListener>());
        }
        else
        {
            builder.Services.AddHostedService(sp => sp.GetRequiredService<VaultPipeline>());
        }

        if (transparency.Enabled)
        {
            builder.Services.AddHostedService(sp => sp.GetRequiredService<FleetAnnouncer>());
        }

        builder.Services.AddHostedService(sp => sp.GetRequiredService<ClientListener>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<HealthEndpoint>());
        IHost host = builder.Build();
        try
        {
            // ValidateOnStart's checks, run now so Build refuses a bad configuration before anything opens.
            host.Services.GetRequiredService<IStartupValidator>().Validate();
        }
        catch (Exception ex) when (ex is OptionsValidationException or AggregateException)
        {
            host.Dispose();
            IEnumerable<Exception> failures = ex is AggregateException all ? all.Flatten().InnerExceptions : [ex];
            throw new HostConfigurationException([.. failures.OfType<OptionsValidationException>().SelectMany(f => f.Failures)]);
        }

        return host;
    }

    // The PostgreSQL store is logged by host:port/database only: the connection string may hold the password.
    // The listener's handler: the pipeline, with the fleet announcement in front when one is configured.
    private static AnnouncingRequestHandler Announcing(IServiceProvider services, IClientRequestHandler pipeline) =>
        new(pipeline, services.GetService<FleetAnnouncer>());

    private static IVaultStore OpenStore(StoreOptions options, ILoggerFactory loggers)
    {
        if (!options.IsPostgres)
        {
            return SqliteVaultStore.Open(options.Path);
        }

        ILogger logger = loggers.CreateLogger(typeof(VaultHost).FullName!);
        PostgresVaultStore store = PostgresVaultStore.Open(options.ConnectionString!);
        logger.LogInformation("Store: PostgreSQL {Database} at log index {LogIndex}", store.Name, store.State.LogIndex);
        return store;
    }

    private static T Bind<T>(IConfiguration configuration, string section, List<string> problems)
        where T : new()
    {
        var options = new T();
        OptionsBinder.Bind(configuration.GetSection(section), options, problems);
        return options;
    }

    private static void AddOptions<T>(HostApplicationBuilder builder, string section, Func<T, IReadOnlyList<string>> problems)
        where T : class
    {
        IConfigurationSection values = builder.Configuration.GetSection(section);
        builder.Services.AddOptions<T>()
            .Configure(options => OptionsBinder.Bind(values, options, []))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<T>>(new OptionsProblemsValidator<T>(problems));

        // The services take the options object itself, as before the options framework bound them.
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<T>>().Value);
    }
}

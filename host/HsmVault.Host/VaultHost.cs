using HsmVault.Host.Bridge;
using HsmVault.Host.Configuration;
using HsmVault.Host.Health;
using HsmVault.Host.Listener;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Store;
using HsmVault.Host.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

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
    /// listing every invalid option.
    /// </summary>
    public static IHost Build(string[] args, Func<IServiceProvider, IHsmBridge>? bridge = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        string? configFile = ConfigFileArgument(args);
        if (configFile is not null)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
        }

        builder.Configuration.AddEnvironmentVariables(EnvironmentPrefix);
        builder.Configuration.AddCommandLine(args.Where(a => a != "--config" && a != configFile).ToArray());

        var listener = Bind<ClientListenerOptions>(builder.Configuration, ClientListenerOptions.Section);
        var hsm = Bind<HsmOptions>(builder.Configuration, HsmOptions.Section);
        var store = Bind<StoreOptions>(builder.Configuration, StoreOptions.Section);
        var health = Bind<HealthOptions>(builder.Configuration, HealthOptions.Section);
        List<string> problems = [.. listener.Problems(), .. store.Problems(), .. health.Problems()];
        if (bridge is null)
        {
            problems.AddRange(hsm.Problems());
        }

        if (problems.Count > 0)
        {
            throw new HostConfigurationException(problems);
        }

        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddConsole();
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = listener.DrainTimeout + TimeSpan.FromSeconds(5));

        builder.Services.AddSingleton(listener);
        builder.Services.AddSingleton(hsm);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(health);
        builder.Services.AddSingleton<HostMetrics>();
        builder.Services.AddSingleton<IVaultStore>(_ => SqliteVaultStore.Open(store.Path));
        if (bridge is null)
        {
            builder.Services.AddSingleton<IHsmBridge, SocketHsmBridge>();
        }
        else
        {
            builder.Services.AddSingleton(bridge);
        }

        builder.Services.AddSingleton<VaultPipeline>();
        builder.Services.AddSingleton<IClientRequestHandler>(sp => sp.GetRequiredService<VaultPipeline>());
        builder.Services.AddSingleton<ClientListener>();
        builder.Services.AddSingleton<HealthEndpoint>();

        // Hosted services stop in reverse order: health, listener (drain), then pipeline.
        builder.Services.AddHostedService(sp => sp.GetRequiredService<VaultPipeline>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ClientListener>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<HealthEndpoint>());
        return builder.Build();
    }

    private static T Bind<T>(IConfiguration configuration, string section)
        where T : new()
    {
        try
        {
            return configuration.GetSection(section).Get<T>() ?? new T();
        }
        catch (InvalidOperationException ex)
        {
            // The binder's message names the key and the value, e.g. "'abc' at 'Host:Port'".
            throw new HostConfigurationException([ex.Message]);
        }
    }

    private static string? ConfigFileArgument(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--config")
            {
                return i + 1 < args.Length ? args[i + 1] : throw new HostConfigurationException(["--config: needs a JSON file path"]);
            }
        }

        return null;
    }
}

using HsmVault.Host.Configuration;
using Microsoft.Extensions.Hosting;

namespace HsmVault.Host;

/// <summary>
/// The command line entry: builds and runs the host and turns every way it can fail to start into
/// one plain message on standard error and the documented exit code (<see cref="HostExitCodes"/>),
/// never an unhandled exception.
/// </summary>
public static class HostProgram
{
    /// <summary>Runs the host until it is stopped; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (args.Any(a => a is "--help" or "-h" or "-?"))
        {
            await output.WriteLineAsync(HostUsage.Text).ConfigureAwait(false);
            return HostExitCodes.Success;
        }

        IHost host;
        try
        {
            host = VaultHost.Build(args);
        }
        catch (HostConfigurationException ex)
        {
            await error.WriteLineAsync($"hsmvault-host: {ex.Message}").ConfigureAwait(false);
            await error.WriteLineAsync("Run with --help for the options.").ConfigureAwait(false);
            return HostExitCodes.InvalidConfiguration;
        }

        using (host)
        {
            try
            {
                await host.RunAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (HostExitCodes.StartFailure(ex) is { } message)
            {
                await error.WriteLineAsync($"hsmvault-host: cannot start: {message}").ConfigureAwait(false);
                return HostExitCodes.StartupFailure;
            }
            catch (Exception ex)
            {
                // A bug, not an operator's mistake: keep the details for the report, but exit with the documented code.
                await error.WriteLineAsync($"hsmvault-host: failed unexpectedly ({ex.GetType().Name}): {ex.Message}").ConfigureAwait(false);
                await error.WriteLineAsync(ex.ToString()).ConfigureAwait(false);
                return HostExitCodes.StartupFailure;
            }
        }

        return HostExitCodes.Success;
    }
}

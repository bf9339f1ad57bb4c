using HsmVault.Host;
using HsmVault.Host.Configuration;
using Microsoft.Extensions.Hosting;

if (args.Any(a => a is "--help" or "-h" or "-?"))
{
    Console.Out.WriteLine(HostUsage.Text);
    return 0;
}

IHost host;
try
{
    host = VaultHost.Build(args);
}
catch (HostConfigurationException ex)
{
    Console.Error.WriteLine($"hsmvault-host: {ex.Message}");
    Console.Error.WriteLine("Run with --help for the options.");
    return 2;
}

using (host)
{
    try
    {
        await host.RunAsync().ConfigureAwait(false);
    }
    catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or Microsoft.Data.Sqlite.SqliteException or InvalidDataException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
    {
        Console.Error.WriteLine($"hsmvault-host: cannot start: {ex.Message}");
        return 1;
    }
}

return 0;

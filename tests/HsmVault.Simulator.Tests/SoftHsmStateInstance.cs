using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// A simulator state directory's SoftHSM2 token, opened in this test process beside the sandbox's.
/// SoftHSM2 reads SOFTHSM2_CONF once, in C_Initialize, and keeps one configuration per loaded
/// library, so one process normally sees one token store. A copy of the library at another path
/// loads as an instance of its own (the dynamic loader tells libraries apart by file, and
/// Pkcs11Interop loads them RTLD_LOCAL), reading the configuration set while it loads. Each copy is
/// loaded once and kept loaded for the rest of the process: unloading it and loading it again
/// would read whatever SOFTHSM2_CONF says then.
/// </summary>
internal static class SoftHsmStateInstance
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, Pkcs11Options> Opened = new(StringComparer.Ordinal);
    private static string? s_libraryCopies;
    private static int s_copies;

    /// <summary>
    /// Prepares <paramref name="stateDirectory"/> as the simulator does (<see cref="SoftHsmStateDirectory.Prepare"/>:
    /// configuration, PIN files, the token initialised on first use) on a SoftHSM2 instance of its own,
    /// and returns the options that open its token. The same directory always gets the same instance.
    /// </summary>
    internal static Pkcs11Options Open(string stateDirectory, string tokenLabel = "hsmvault-sim")
    {
        SoftHsmSandbox sandbox = SoftHsmSandbox.ForThisProcess;
        string directory = Path.GetFullPath(stateDirectory);
        lock (Gate)
        {
            if (Opened.TryGetValue(directory, out Pkcs11Options? known))
            {
                return known;
            }

            s_libraryCopies ??= CreateCopyFolder();
            string library = Path.Combine(s_libraryCopies, $"libsofthsm2-{++s_copies}.so");
            File.Copy(sandbox.LibraryPath, library);
            string? previous = Environment.GetEnvironmentVariable("SOFTHSM2_CONF");
            try
            {
                // Prepare points SOFTHSM2_CONF at the state directory; the reference taken here while it
                // still does is the load that reads it, and it is never released.
                Pkcs11Options options = SoftHsmStateDirectory.Prepare(directory, library, tokenLabel);
                _ = Pkcs11Module.Acquire(library);
                Opened.Add(directory, options);
                return options;
            }
            finally
            {
                // The sandbox's library (and any reload of it) must go on reading the sandbox's configuration.
                NativeEnvironment.Set("SOFTHSM2_CONF", previous ?? sandbox.ConfigPath);
            }
        }
    }

    private static string CreateCopyFolder()
    {
        string folder = Directory.CreateTempSubdirectory("hsmvault-softhsm-lib-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        };
        return folder;
    }
}

using System.Runtime.InteropServices;
using HsmVault.Operator;

namespace HsmVault.Witness.Tests;

/// <summary>
/// A throw-away SoftHSM2 store for this test process: a temp folder, a softhsm2.conf pointing at it
/// and SOFTHSM2_CONF set in the C environment before the library is first loaded, with one operator
/// token initialised through <c>hsmvault-operator init-token</c>. Tests keep apart by key label.
/// </summary>
internal sealed class OperatorTokenSandbox
{
    public const string TokenLabel = "hsmvault-operator-test";

    private static readonly Lazy<OperatorTokenSandbox> Process = new(() => new OperatorTokenSandbox(), LazyThreadSafetyMode.ExecutionAndPublication);
    private static int s_keys;

    private OperatorTokenSandbox()
    {
        LibraryPath = Environment.GetEnvironmentVariable("HSMVAULT_PKCS11_LIBRARY") is { Length: > 0 } custom ? custom : OperatorTokenOptions.DefaultLibrary;
        if (!File.Exists(LibraryPath))
        {
            throw new InvalidOperationException($"SoftHSM2 is required by these tests but '{LibraryPath}' does not exist. Install it (apt-get install softhsm2) or point HSMVAULT_PKCS11_LIBRARY at a SoftHSM2 module.");
        }

        Directory = System.IO.Directory.CreateTempSubdirectory("hsmvault-operator-softhsm-").FullName;
        string tokens = Path.Combine(Directory, "tokens");
        System.IO.Directory.CreateDirectory(tokens);
        string config = Path.Combine(Directory, "softhsm2.conf");
        File.WriteAllText(config, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        Environment.SetEnvironmentVariable("SOFTHSM2_CONF", config);
        if (!OperatingSystem.IsWindows() && SetEnv("SOFTHSM2_CONF", config, 1) != 0)
        {
            throw new InvalidOperationException("setenv(SOFTHSM2_CONF) failed");
        }

        PinFile = Path.Combine(Directory, "user-pin");
        File.WriteAllText(PinFile, "usrpin-8\n");
        string soPinFile = Path.Combine(Directory, "so-pin");
        File.WriteAllText(soPinFile, "so-pin-8\n");
        var output = new StringWriter();
        var error = new StringWriter();
        int code = OperatorCommandLine.RunAsync(["init-token", "--library", LibraryPath, "--token", TokenLabel, "--pin-file", PinFile, "--so-pin-file", soPinFile], output, error, CancellationToken.None).GetAwaiter().GetResult();
        if (code != 0)
        {
            throw new InvalidOperationException($"init-token failed ({code}): {error}");
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        };
    }

    public static OperatorTokenSandbox ForThisProcess => Process.Value;

    public string LibraryPath { get; }

    public string Directory { get; }

    public string PinFile { get; }

    /// <summary>A key label no other test uses.</summary>
    public static string NewKeyLabel(string purpose) => $"{purpose}-{Interlocked.Increment(ref s_keys)}";

    public OperatorTokenOptions Options(string keyLabel) => new(LibraryPath, TokenLabel, keyLabel, PinFile);

    /// <summary>The common token options of the command line.</summary>
    public string[] TokenArguments(string keyLabel) => ["--library", LibraryPath, "--token", TokenLabel, "--key-label", keyLabel, "--pin-file", PinFile];

    [DllImport("libc", EntryPoint = "setenv", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int SetEnv(string name, string value, int overwrite);
}

using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// A throw-away SoftHSM2 token store for one test process: a temp folder, a softhsm2.conf pointing
/// at it and SOFTHSM2_CONF set before the PKCS#11 library is first loaded. Each call to
/// <see cref="CreateToken"/> initialises a new token with a unique label in the free slot, so test
/// classes never share keys. Child processes get the same store through <see cref="ConfigPath"/>.
/// </summary>
public sealed class SoftHsmSandbox
{
    public const string SecurityOfficerPin = "sandbox-so-pin";
    public const string UserPin = "sandbox-user-pin";

    private static readonly Lazy<SoftHsmSandbox> Process = new(() => new SoftHsmSandbox(), LazyThreadSafetyMode.ExecutionAndPublication);
    private static int s_tokens;

    private SoftHsmSandbox()
    {
        LibraryPath = Environment.GetEnvironmentVariable("HSMVAULT_PKCS11_LIBRARY") is { Length: > 0 } custom
            ? custom
            : Pkcs11Options.SoftHsm2LibraryPath;
        if (!File.Exists(LibraryPath))
        {
            throw new InvalidOperationException(
                $"SoftHSM2 is required by these tests but '{LibraryPath}' does not exist. Install it (apt-get install softhsm2) " +
                "or point HSMVAULT_PKCS11_LIBRARY at a SoftHSM2 module.");
        }

        TokenDirectory = Directory.CreateTempSubdirectory("hsmvault-softhsm-").FullName;
        ConfigPath = Path.Combine(TokenDirectory, "softhsm2.conf");
        string tokens = Path.Combine(TokenDirectory, "tokens");
        Directory.CreateDirectory(tokens);
        SoftHsmStateDirectory.WriteConfiguration(ConfigPath, tokens);

        // SoftHSM2 reads its configuration once, in C_Initialize: this must precede the first load.
        NativeEnvironment.Set("SOFTHSM2_CONF", ConfigPath);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(TokenDirectory);
    }

    /// <summary>The sandbox of this test process (created on first use).</summary>
    public static SoftHsmSandbox ForThisProcess => Process.Value;

    /// <summary>The PKCS#11 module under test.</summary>
    public string LibraryPath { get; }

    /// <summary>The temp folder holding the configuration and the tokens.</summary>
    public string TokenDirectory { get; }

    /// <summary>The softhsm2.conf to pass as SOFTHSM2_CONF to child processes.</summary>
    public string ConfigPath { get; }

    /// <summary>Initialises a new empty token and returns options that reach it with <see cref="UserPin"/>.</summary>
    public Pkcs11Options CreateToken(string purpose)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        string suffix = $"-{Environment.ProcessId}-{Interlocked.Increment(ref s_tokens)}";
        string label = (purpose.Length + suffix.Length > 32 ? purpose[..(32 - suffix.Length)] : purpose) + suffix;
        Pkcs11TokenInitializer.InitializeFreeSlot(LibraryPath, label, SecurityOfficerPin, UserPin);
        return new Pkcs11Options(LibraryPath, label, Pkcs11PinSource.Literal(UserPin));
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

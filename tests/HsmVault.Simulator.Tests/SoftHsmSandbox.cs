using System.Security.Cryptography;
using System.Text;
using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// The PKCS#11 token the tests of this process run against. By default a throw-away SoftHSM2 store:
/// a temp folder, a softhsm2.conf pointing at it and SOFTHSM2_CONF set before the library is first
/// loaded, with one token initialised once for the whole test assembly. With
/// <see cref="TokenLabelVariable"/> set it uses a token initialised beforehand instead (a vendor
/// HSM's partition, or a SoftHSM2 token made with softhsm2-util) and never calls C_InitToken.
/// Either way tests are kept apart by key label prefix (<see cref="NewKeySet"/>), not by token,
/// because a real HSM has a fixed set of partitions and C_InitToken wipes one.
/// </summary>
public sealed class SoftHsmSandbox
{
    /// <summary>At most 8 characters, as some vendor tokens require; SoftHSM2 needs at least 4.</summary>
    public const string SecurityOfficerPin = "so-pin-8";

    /// <summary>At most 8 characters, as some vendor tokens require; SoftHSM2 needs at least 4.</summary>
    public const string UserPin = "usrpin-8";

    /// <summary>Names a token initialised beforehand; its user PIN comes from <see cref="TokenPinVariable"/>.</summary>
    public const string TokenLabelVariable = "HSMVAULT_TEST_TOKEN_LABEL";

    public const string TokenPinVariable = "HSMVAULT_TEST_TOKEN_PIN";

    private static readonly Lazy<SoftHsmSandbox> Process = new(() => new SoftHsmSandbox(), LazyThreadSafetyMode.ExecutionAndPublication);

    // Per process: prefixes on a token that outlives the run (a vendor partition) never meet earlier runs' keys.
    private static readonly string Run = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private static int s_tokens;
    private static int s_keySets;

    private readonly Lazy<Pkcs11Options> _sharedToken;

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

        if (Environment.GetEnvironmentVariable(TokenLabelVariable) is { Length: > 0 } label)
        {
            // The library's own configuration names the token; nothing here may initialise or wipe it.
            PreinitialisedTokenLabel = label;
            TokenDirectory = string.Empty;
            ConfigPath = Environment.GetEnvironmentVariable("SOFTHSM2_CONF") ?? string.Empty;
            _sharedToken = new(() => new Pkcs11Options(LibraryPath, label, Pkcs11PinSource.EnvironmentVariable(TokenPinVariable)));
            return;
        }

        TokenDirectory = Directory.CreateTempSubdirectory("hsmvault-softhsm-").FullName;
        ConfigPath = Path.Combine(TokenDirectory, "softhsm2.conf");
        string tokens = Path.Combine(TokenDirectory, "tokens");
        Directory.CreateDirectory(tokens);
        SoftHsmStateDirectory.WriteConfiguration(ConfigPath, tokens);

        // SoftHSM2 reads its configuration once, in C_Initialize: this must precede the first load.
        NativeEnvironment.Set("SOFTHSM2_CONF", ConfigPath);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(TokenDirectory);
        _sharedToken = new(() => InitializeToken("shared", SecurityOfficerPin, UserPin), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The sandbox of this test process (created on first use).</summary>
    public static SoftHsmSandbox ForThisProcess => Process.Value;

    /// <summary>The PKCS#11 module under test.</summary>
    public string LibraryPath { get; }

    /// <summary>The temp folder holding the configuration and the tokens (empty for a pre-initialised token).</summary>
    public string TokenDirectory { get; }

    /// <summary>The softhsm2.conf to pass as SOFTHSM2_CONF to child processes.</summary>
    public string ConfigPath { get; }

    /// <summary>The label given in <see cref="TokenLabelVariable"/>, or null when the sandbox initialises its own token.</summary>
    public string? PreinitialisedTokenLabel { get; }

    /// <summary>The one token every key set lives on (initialised on first use, once per test process).</summary>
    public Pkcs11Options SharedToken => _sharedToken.Value;

    /// <summary>Options for a key set of its own, under a fresh key label prefix on <see cref="SharedToken"/>.</summary>
    public Pkcs11Options NewKeySet(string purpose)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        return SharedToken with { KeyLabelPrefix = $"{purpose}-{Run}-{Interlocked.Increment(ref s_keySets)}" };
    }

    /// <summary>
    /// Initialises a token of its own, for the few tests that need login state no other test shares
    /// (a wrong PIN is only checked while no session of the process is logged in). Inconclusive on a
    /// pre-initialised token: initialising another partition is not the tests' business.
    /// </summary>
    public Pkcs11Options CreateToken(string purpose, string securityOfficerPin = SecurityOfficerPin, string userPin = UserPin)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        if (PreinitialisedTokenLabel is not null)
        {
            Assert.Inconclusive($"This test needs a token of its own; the sandbox runs on the pre-initialised token '{PreinitialisedTokenLabel}'.");
        }

        return InitializeToken(purpose, securityOfficerPin, userPin);
    }

    /// <summary>The user PIN of <paramref name="options"/>, for a test's own second session.</summary>
    public static string PinOf(Pkcs11Options options)
    {
        byte[] pin = options.Pin.Resolve();
        try
        {
            return Encoding.UTF8.GetString(pin);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pin);
        }
    }

    private Pkcs11Options InitializeToken(string purpose, string securityOfficerPin, string userPin)
    {
        string suffix = $"-{Environment.ProcessId}-{Interlocked.Increment(ref s_tokens)}";
        string label = (purpose.Length + suffix.Length > 32 ? purpose[..(32 - suffix.Length)] : purpose) + suffix;
        Pkcs11TokenInitializer.InitializeFreeSlot(LibraryPath, label, securityOfficerPin, userPin);
        return new Pkcs11Options(LibraryPath, label, Pkcs11PinSource.Literal(userPin));
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

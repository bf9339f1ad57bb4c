using System.Security.Cryptography;
using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Simulator;

/// <summary>
/// A SoftHSM2 token store of the simulator's own: a folder holding softhsm2.conf, the token files
/// and the PIN files (mode 0600). Created on first use, reused afterwards, so a simulator restarted
/// on the same folder finds the same keys and NVRAM.
/// </summary>
public static class SoftHsmStateDirectory
{
    /// <summary>The file that says the token was initialised, and holds its label.</summary>
    internal const string InitializedMarker = "token-initialized";

    /// <summary>SoftHSM2's configuration, pointing at <see cref="TokenDirectoryName"/>.</summary>
    internal const string ConfigurationFile = "softhsm2.conf";

    /// <summary>The folder of SoftHSM2's file-backed tokens.</summary>
    internal const string TokenDirectoryName = "tokens";

    /// <summary>The user PIN file (mode 0600).</summary>
    internal const string UserPinFile = "user-pin";

    /// <summary>The security officer PIN file (mode 0600).</summary>
    internal const string SecurityOfficerPinFile = "so-pin";

    /// <summary>
    /// Prepares <paramref name="directory"/> and points SOFTHSM2_CONF at it (this must happen before the
    /// PKCS#11 library is loaded in this process), initialising the token on first use. Returns the
    /// options that open the token.
    /// </summary>
    public static Pkcs11Options Prepare(string directory, string libraryPath, string tokenLabel)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        directory = Path.GetFullPath(directory);
        string tokens = Path.Combine(directory, TokenDirectoryName);
        Directory.CreateDirectory(tokens);
        string config = Path.Combine(directory, ConfigurationFile);
        if (!File.Exists(config))
        {
            WriteConfiguration(config, tokens);
        }

        NativeEnvironment.Set("SOFTHSM2_CONF", config);
        string userPinFile = EnsurePinFile(Path.Combine(directory, UserPinFile));
        string securityOfficerPinFile = EnsurePinFile(Path.Combine(directory, SecurityOfficerPinFile));

        string marker = Path.Combine(directory, InitializedMarker);
        if (!File.Exists(marker))
        {
            Pkcs11TokenInitializer.InitializeFreeSlot(
                libraryPath,
                tokenLabel,
                File.ReadAllText(securityOfficerPinFile).Trim(),
                File.ReadAllText(userPinFile).Trim());
            File.WriteAllText(marker, tokenLabel + "\n");
        }

        return new Pkcs11Options(libraryPath, tokenLabel, Pkcs11PinSource.File(userPinFile));
    }

    /// <summary>Writes a softhsm2.conf that keeps file-backed tokens in <paramref name="tokenDirectory"/>.</summary>
    public static void WriteConfiguration(string configPath, string tokenDirectory) =>
        File.WriteAllText(configPath, $"directories.tokendir = {tokenDirectory}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");

    private static string EnsurePinFile(string path)
    {
        if (!File.Exists(path))
        {
            string pin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
            FileStreamOptions options = new() { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using StreamWriter writer = new(path, System.Text.Encoding.ASCII, options);
            writer.Write(pin);
        }

        return path;
    }
}

using System.Security.Cryptography;
using HsmVault.Enclave;
using HsmVault.Enclave.Fleet;
using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Simulator;

/// <summary>
/// TEST-ONLY: a second simulated HSM of the same fleet, made from a provisioned simulator state
/// directory (<see cref="SoftHsmStateDirectory"/>) by copying its SoftHSM2 token files. The copy keeps
/// the fleet keys (record key, the HMAC keys, the AKE and channel key pairs), gets a new identity key
/// pair generated inside it (a distinct HSM, so a distinct fleet member) and has no NVRAM (it has
/// joined no fleet). Copying token files is what no real HSM allows and no deployment may do: a real
/// fleet moves its keys from one HSM to the others by key wrap, in the ceremony (<c>fleet-init</c>,
/// docs/DEPLOYMENT.md). This stays as the local fleet's fallback where a token cannot do the ceremony.
/// Error messages name the options of <c>hsmvault-simulator clone</c>, its only caller.
/// </summary>
public static class SoftHsmStateClone
{
    private static readonly UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private static readonly UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>What a clone holds: the token's label, the identity keys of source and clone (SEC1 compressed) and the shared fleet public keys.</summary>
    /// <param name="TokenLabel">The token label, the same in source and clone.</param>
    /// <param name="SourceIdentityPublicKey">The source's identity public key, which the clone no longer has.</param>
    /// <param name="IdentityPublicKey">The clone's new identity public key.</param>
    /// <param name="AkePublicKey">The fleet's AKE public key (SEC1 compressed), the same in both.</param>
    /// <param name="ChannelPublicKey">The fleet's channel public key (SEC1 uncompressed), the same in both.</param>
    /// <param name="MemberId">The clone's fleet member id (<see cref="HsmVault.Enclave.Fleet.FleetEnclave.MemberId"/>).</param>
    public sealed record Result(string TokenLabel, byte[] SourceIdentityPublicKey, byte[] IdentityPublicKey, byte[] AkePublicKey, byte[] ChannelPublicKey, byte[] MemberId);

    /// <summary>
    /// Clones the state directory <paramref name="from"/> into <paramref name="to"/> (new, or an empty
    /// folder). All or nothing: on any failure what was made at <paramref name="to"/> is removed. Opens
    /// the copy through <paramref name="libraryPath"/> after pointing SOFTHSM2_CONF at it, so it must run
    /// in a process that has not loaded that library yet.
    /// </summary>
    public static Result Clone(string from, string to, string libraryPath, string keyLabelPrefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(from);
        ArgumentException.ThrowIfNullOrEmpty(to);
        ArgumentException.ThrowIfNullOrEmpty(libraryPath);
        ArgumentException.ThrowIfNullOrEmpty(keyLabelPrefix);
        from = Path.GetFullPath(from);
        to = Path.GetFullPath(to);
        if (Pkcs11Module.IsLoaded(libraryPath))
        {
            // SoftHSM2 reads SOFTHSM2_CONF once per load: this process would open the wrong token store.
            throw new InvalidOperationException($"The PKCS#11 library '{libraryPath}' is already loaded in this process; a clone runs in a process of its own.");
        }

        (string tokenLabel, string sourceConfiguration, string sourceTokens) = ReadSource(from);
        RequireEmptyTarget(to);

        bool created = !Directory.Exists(to);
        try
        {
            CreateFolder(to);
            string tokens = Path.Combine(to, SoftHsmStateDirectory.TokenDirectoryName);
            CopyTree(sourceTokens, tokens);
            string configuration = Path.Combine(to, SoftHsmStateDirectory.ConfigurationFile);
            File.WriteAllText(configuration, RewriteTokenDirectory(sourceConfiguration, tokens));
            foreach (string file in new[] { SoftHsmStateDirectory.UserPinFile, SoftHsmStateDirectory.SecurityOfficerPinFile, SoftHsmStateDirectory.InitializedMarker })
            {
                CopyFile(Path.Combine(from, file), Path.Combine(to, file), OwnerOnlyFile);
            }

            NativeEnvironment.Set("SOFTHSM2_CONF", configuration);
            var options = new Pkcs11Options(libraryPath, tokenLabel, Pkcs11PinSource.File(Path.Combine(to, SoftHsmStateDirectory.UserPinFile)), keyLabelPrefix);
            return MakeNewMember(options, from);
        }
        catch
        {
            Remove(to, created);
            throw;
        }
    }

    // On the copy: check the whole key set is there and protected, note what must stay the same, drop
    // the identity and NVRAM, let provisioning generate the one missing key, and check nothing else moved.
    private static Result MakeNewMember(Pkcs11Options options, string from)
    {
        byte[] probe = RandomNumberGenerator.GetBytes(32);
        byte[] associatedData = "HsmVault-v1 clone check"u8.ToArray();
        byte[] sourceIdentity, ake, channel, sealedProbe;
        Dictionary<HsmHmacKey, byte[]> macs = [];
        try
        {
            using (Pkcs11HsmServices copy = Pkcs11HsmServices.Open(options))
            {
                sourceIdentity = copy.IdentityPublicKey;
                ake = copy.AkePublicKey;
                channel = copy.ChannelPublicKey;
                sealedProbe = copy.Seal(probe, associatedData);
                foreach (HsmHmacKey role in Enum.GetValues<HsmHmacKey>())
                {
                    macs[role] = copy.Hmac(role, probe);
                }
            }

            Pkcs11MemberObjects.DestroyIdentityAndNvram(options);
        }
        catch (HsmConfigurationException ex)
        {
            throw new HsmConfigurationException($"--from: '{from}' does not hold a provisioned key set '{options.KeyLabelPrefix}-*' on token '{options.TokenLabel}': {ex.Message}", ex);
        }

        using Pkcs11HsmServices clone = Pkcs11HsmServices.OpenOrProvision(options);
        bool sameFleetKeys = clone.AkePublicKey.AsSpan().SequenceEqual(ake)
            && clone.ChannelPublicKey.AsSpan().SequenceEqual(channel)
            && clone.TryUnseal(sealedProbe, associatedData, out byte[] opened) && opened.AsSpan().SequenceEqual(probe)
            && macs.All(mac => clone.Hmac(mac.Key, probe).AsSpan().SequenceEqual(mac.Value));
        if (!sameFleetKeys || clone.IdentityPublicKey.AsSpan().SequenceEqual(sourceIdentity) || clone.ReadNvram().Length != 0)
        {
            throw new HsmConfigurationException("--to: the copy does not hold the source's fleet keys with a new identity key and empty NVRAM; it was removed.");
        }

        return new Result(options.TokenLabel, sourceIdentity, clone.IdentityPublicKey, ake, channel, new FleetEnclave(clone).MemberId);
    }

    private static (string TokenLabel, string Configuration, string TokenDirectory) ReadSource(string from)
    {
        if (!Directory.Exists(from))
        {
            throw new DirectoryNotFoundException($"--from: '{from}' does not exist.");
        }

        string[] required = [SoftHsmStateDirectory.ConfigurationFile, SoftHsmStateDirectory.UserPinFile, SoftHsmStateDirectory.SecurityOfficerPinFile, SoftHsmStateDirectory.InitializedMarker];
        if (required.FirstOrDefault(file => !File.Exists(Path.Combine(from, file))) is { } missing)
        {
            throw new HsmConfigurationException($"--from: '{from}' is not a provisioned simulator state directory (it has no {missing}; 'serve --state-dir' makes one).");
        }

        string tokenLabel = File.ReadAllText(Path.Combine(from, SoftHsmStateDirectory.InitializedMarker)).Trim();
        string configuration = File.ReadAllText(Path.Combine(from, SoftHsmStateDirectory.ConfigurationFile));
        string? tokenDirectory = configuration.Split('\n')
            .Select(line => line.Split('=', 2))
            .Where(pair => pair.Length == 2 && pair[0].Trim() == "directories.tokendir")
            .Select(pair => pair[1].Trim())
            .LastOrDefault();
        if (tokenLabel.Length == 0 || tokenDirectory is null || !Directory.Exists(tokenDirectory))
        {
            throw new HsmConfigurationException($"--from: '{from}' is not a provisioned simulator state directory (no token label in {SoftHsmStateDirectory.InitializedMarker}, or softhsm2.conf names no existing directories.tokendir).");
        }

        int tokens = Directory.GetDirectories(tokenDirectory).Length;
        if (tokens != 1)
        {
            throw new HsmConfigurationException($"--from: '{tokenDirectory}' holds {tokens} tokens; a simulator state directory holds exactly one.");
        }

        return (tokenLabel, configuration, tokenDirectory);
    }

    private static void RequireEmptyTarget(string to)
    {
        if (File.Exists(to))
        {
            throw new IOException($"--to: '{to}' is a file; the clone goes into a new or empty folder.");
        }

        if (Directory.Exists(to) && Directory.EnumerateFileSystemEntries(to).Any())
        {
            throw new IOException($"--to: '{to}' is not empty; the clone goes into a new or empty folder.");
        }
    }

    // Every line of the source's configuration is kept (mechanism or log settings a test chose), but the tokens are the copy's.
    private static string RewriteTokenDirectory(string configuration, string tokenDirectory) =>
        string.Join('\n', configuration.Split('\n').Select(line =>
            line.Split('=', 2) is [{ } key, _] && key.Trim() == "directories.tokendir" ? $"directories.tokendir = {tokenDirectory}" : line));

    private static void CopyTree(string source, string target)
    {
        CreateFolder(target);
        foreach (string file in Directory.GetFiles(source))
        {
            CopyFile(file, Path.Combine(target, Path.GetFileName(file)), OperatingSystem.IsWindows() ? OwnerOnlyFile : File.GetUnixFileMode(file));
        }

        foreach (string folder in Directory.GetDirectories(source))
        {
            CopyTree(folder, Path.Combine(target, Path.GetFileName(folder)));
        }
    }

    private static void CopyFile(string source, string target, UnixFileMode mode)
    {
        File.Copy(source, target);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(target, mode);
        }
    }

    private static void CreateFolder(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, OwnerOnlyFolder);
        }
    }

    // Leaves the target as it was found: gone if the clone made it, else empty again.
    private static void Remove(string to, bool created)
    {
        try
        {
            if (created)
            {
                if (Directory.Exists(to))
                {
                    Directory.Delete(to, recursive: true);
                }

                return;
            }

            foreach (string folder in Directory.GetDirectories(to))
            {
                Directory.Delete(folder, recursive: true);
            }

            foreach (string file in Directory.GetFiles(to))
            {
                File.Delete(file);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The original failure is what the caller reports; a leftover only makes the next clone refuse a non-empty --to.
        }
    }
}

using System.Security.Cryptography;
using HsmVault.Enclave;
using HsmVault.Protocol.Deployment;
using HsmVault.Protocol.Fleet;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Ceremony;

/// <summary>Where one HSM of the ceremony is: a simulator state directory, the PKCS#11 module, the token label and the key label prefix.</summary>
/// <param name="StateDirectory">The simulator state directory (made on first use, as <c>serve --state-dir</c> does).</param>
/// <param name="Library">The PKCS#11 module.</param>
/// <param name="TokenLabel">The token's label.</param>
/// <param name="KeyLabelPrefix">The key label prefix of the vault's objects.</param>
internal sealed record CeremonyMember(string StateDirectory, string Library, string TokenLabel, string KeyLabelPrefix)
{
    internal Pkcs11Options Prepare() =>
        SoftHsmStateDirectory.Prepare(StateDirectory, Library, TokenLabel) with { KeyLabelPrefix = KeyLabelPrefix };

    internal string SecurityOfficerPinFile => Path.Combine(StateDirectory, SoftHsmStateDirectory.SecurityOfficerPinFile);

    internal string TransportKeyLabel => $"{KeyLabelPrefix}-transport-key";
}

/// <summary>
/// The per-HSM steps of the deployment ceremony (docs/DEPLOYMENT.md), each run in a process of its own
/// on one token (SoftHSM2 reads its configuration once per process, and a real ceremony would run each
/// on the machine of its HSM): <see cref="Prepare"/> on every receiving HSM, <see cref="Export"/> on
/// HSM 0, <see cref="Import"/> on every receiving HSM, <see cref="Sign"/> on every HSM.
/// </summary>
internal static class CeremonySteps
{
    /// <summary>What an HMAC fleet key's check value is computed over; distinct from every input the enclave MACs.</summary>
    internal static ReadOnlySpan<byte> CheckMessage => "HsmVault-v1 ceremony key check value"u8;

    /// <summary>What HSM 0 seals with the record key for the receiver to open.</summary>
    internal static ReadOnlySpan<byte> SealedCheckPlaintext => "HsmVault-v1 ceremony record key check"u8;

    internal static ReadOnlySpan<byte> SealedCheckAssociatedData => "HsmVault-v1 ceremony"u8;

    /// <summary>The fleet keys, in key set order: every key but the identity key pair.</summary>
    internal static IReadOnlyList<Pkcs11KeySpec> FleetKeys(string prefix) => [.. Pkcs11KeySet.For(new Pkcs11KeyLabels(prefix)).Where(key => key.SharedByFleet)];

    /// <summary>
    /// On a receiving HSM: generates its RSA-3072 transport key pair inside the token (the private half
    /// unwraps only, sensitive and never extractable) and writes the public key to <paramref name="output"/>.
    /// The token must hold nothing of the key set yet.
    /// </summary>
    internal static void Prepare(CeremonyMember member, int index, string output)
    {
        var log = new CeremonyLogLines(index, "prepare");
        Pkcs11Options options = member.Prepare();
        using CeremonyToken token = CeremonyToken.Open(options);
        token.LogInUser();
        RequireFresh(token, member, index, allowed: []);
        try
        {
            (byte[] modulus, byte[] exponent) = token.GenerateTransportKeyPair(member.TransportKeyLabel);
            string fingerprint = Fingerprint(modulus, exponent);
            log.Add($"RSA-{CeremonyToken.TransportKeyBits} transport key pair '{member.TransportKeyLabel}' generated inside token '{options.TokenLabel}' " +
                $"(private half: unwrap only, CKA_SENSITIVE=true, CKA_EXTRACTABLE=false); public key sha256 {fingerprint}");
            CeremonyFiles.Write(output, new TransportKeyFile(CeremonyFiles.TransportFormat, index, Convert.ToHexStringLower(modulus), Convert.ToHexStringLower(exponent), fingerprint, [.. log.Lines]));
        }
        catch
        {
            token.DestroyAllStartingWith(member.TransportKeyLabel);
            throw;
        }
    }

    /// <summary>
    /// On HSM 0: the security officer marks each receiving HSM's transport public key CKA_TRUSTED and generates a
    /// trusted AES-256 transport key per receiver (session objects); provisioning generates the fleet keys inside
    /// the token as sensitive and wrappable only under a trusted key, and the identity key pair as never
    /// extractable; each fleet key is wrapped under each AES transport key (CKM_AES_KEY_WRAP_PAD), each AES
    /// transport key under its receiver's RSA key (CKM_RSA_PKCS_OAEP), and the transport keys are destroyed.
    /// Writes <c>package-&lt;i&gt;.json</c> per receiver and <c>report-0.json</c> into <paramref name="workDirectory"/>.
    /// </summary>
    internal static void Export(CeremonyMember member, IReadOnlyList<string> transportFiles, string workDirectory)
    {
        var log = new CeremonyLogLines(0, "export");
        List<TransportKeyFile> receivers = [.. transportFiles.Select(path =>
            CeremonyFiles.Read<TransportKeyFile>(path, "--transport", CeremonyFiles.TransportFormat, file => file.Format))];
        CheckReceivers(receivers);
        Pkcs11Options options = member.Prepare() with { FleetKeyProtection = Pkcs11FleetKeyProtection.WrapWithTrustedOnly };
        string prefix = member.KeyLabelPrefix;
        using CeremonyToken token = CeremonyToken.Open(options);
        token.LogInUser();
        RequireFresh(token, member, 0, allowed: []);
        token.LogOut();

        // The security officer, and only it, can make a key CKA_TRUSTED; its objects are session objects of this process.
        token.LogInSecurityOfficer(ReadPin(member.SecurityOfficerPinFile));
        var transport = new Dictionary<int, (IObjectHandle Rsa, IObjectHandle Aes)>();
        foreach (TransportKeyFile receiver in receivers)
        {
            IObjectHandle rsa = token.CreateTrustedRsaWrappingKey($"{prefix}-transport-rsa-hsm-{receiver.Hsm}", Convert.FromHexString(receiver.Modulus), Convert.FromHexString(receiver.PublicExponent));
            IObjectHandle aes = token.GenerateTrustedAesTransportKey($"{prefix}-transport-aes-hsm-{receiver.Hsm}");
            transport.Add(receiver.Hsm, (rsa, aes));
            log.Add($"security officer marked hsm-{receiver.Hsm}'s transport key {receiver.Fingerprint} CKA_TRUSTED (wrap only) and generated an AES-256 transport key for it " +
                "inside the token (CKA_TRUSTED, wrap only, CKA_SENSITIVE=true, extractable only under a trusted key; a session object)");
        }

        token.LogOut();
        var written = new List<string>();
        bool provisioned = false;
        try
        {
            using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options);
            provisioned = true;
            log.Add($"fleet keys generated inside token '{options.TokenLabel}': {string.Join(", ", FleetKeys(prefix).Select(k => $"'{k.Label}'"))} " +
                "(CKA_SENSITIVE=true, CKA_EXTRACTABLE=true with CKA_WRAP_WITH_TRUSTED=true); identity key pair generated (CKA_EXTRACTABLE=false)");
            Dictionary<HsmHmacKey, byte[]> checks = Enum.GetValues<HsmHmacKey>().ToDictionary(role => role, role => hsm.Hmac(role, CheckMessage));
            byte[] sealedCheck = hsm.Seal(SealedCheckPlaintext, SealedCheckAssociatedData);
            var labels = new Pkcs11KeyLabels(prefix);
            byte[] akeUncompressed = P256.Uncompressed(P256.DecodeCompressed(hsm.AkePublicKey, "ake"));

            // The services logged the user in: this session is a user session now too.
            foreach (TransportKeyFile receiver in receivers)
            {
                (IObjectHandle rsa, IObjectHandle aes) = transport[receiver.Hsm];
                List<WrappedFleetKey> keys = [];
                foreach (Pkcs11KeySpec key in FleetKeys(prefix))
                {
                    IObjectHandle handle = token.Find(key.Kind is Pkcs11KeyKind.AesKey or Pkcs11KeyKind.HmacKey ? CKO.CKO_SECRET_KEY : CKO.CKO_PRIVATE_KEY, key.Label);
                    byte[] wrapped = token.WrapUnderTransportKey(aes, handle);
                    string? publicKey = key.Label == labels.AkeKey ? Convert.ToHexStringLower(akeUncompressed)
                        : key.Label == labels.ChannelKey ? Convert.ToHexStringLower(hsm.ChannelPublicKey)
                        : null;
                    string? check = Enum.GetValues<HsmHmacKey>().Where(role => labels.Hmac(role) == key.Label).Select(role => Convert.ToHexStringLower(checks[role])).FirstOrDefault();
                    keys.Add(new WrappedFleetKey(Role(prefix, key.Label), Convert.ToHexStringLower(wrapped), publicKey, check));
                }

                byte[] wrappedTransport = token.WrapUnderRsa(rsa, aes);
                token.Destroy(aes);
                token.Destroy(rsa);
                string path = Path.Combine(workDirectory, $"package-{receiver.Hsm}.json");
                written.Add(path);
                CeremonyFiles.Write(path, new KeyPackage(CeremonyFiles.PackageFormat, receiver.Hsm, receiver.Fingerprint, Convert.ToHexStringLower(wrappedTransport), [.. keys], Convert.ToHexStringLower(sealedCheck)));
                log.Add($"wrapped for hsm-{receiver.Hsm}: the AES transport key under its RSA transport key (CKM_RSA_PKCS_OAEP, SHA-1/MGF1-SHA-1; sha256 {Sha(wrappedTransport)}), " +
                    $"{string.Join(", ", keys.Select(k => $"{k.Role} (sha256 {Sha(Convert.FromHexString(k.Wrapped))})"))} under the AES transport key (CKM_AES_KEY_WRAP_PAD); " +
                    "both transport keys destroyed");
            }

            if (token.LabelsStartingWith($"{prefix}-transport") is { Count: > 0 } left)
            {
                throw new HsmConfigurationException($"transport objects {string.Join(", ", left)} are still on the token after the export.");
            }

            MemberReport report = Report(token, hsm, member, 0, checks, log);
            CeremonyFiles.Write(Path.Combine(workDirectory, "report-0.json"), report);
        }
        catch
        {
            foreach (string path in written)
            {
                File.Delete(path);
            }

            if (provisioned)
            {
                token.LogInUser();
                token.DestroyAllStartingWith(prefix + "-");
            }

            throw;
        }
    }

    /// <summary>
    /// On a receiving HSM: unwraps the AES transport key with its RSA transport key and every fleet key with the AES
    /// transport key (sensitive, extractable only under a trusted key, each limited to its use as provisioning makes
    /// it), creates the public halves of the key pairs, destroys both transport keys, lets provisioning generate its
    /// own identity key pair, and checks the fleet keys against HSM 0's check values. Writes its report to <paramref name="output"/>.
    /// </summary>
    internal static void Import(CeremonyMember member, int index, string packagePath, string output)
    {
        var log = new CeremonyLogLines(index, "import");
        KeyPackage package = CeremonyFiles.Read<KeyPackage>(packagePath, "--package", CeremonyFiles.PackageFormat, file => file.Format);
        if (package.Hsm != index)
        {
            throw new FormatException($"--package: '{packagePath}' is for hsm-{package.Hsm}, not hsm-{index}.");
        }

        string prefix = member.KeyLabelPrefix;
        IReadOnlyList<Pkcs11KeySpec> fleetKeys = FleetKeys(prefix);
        Dictionary<string, WrappedFleetKey> byRole = [];
        foreach (WrappedFleetKey key in package.Keys)
        {
            if (!fleetKeys.Any(spec => Role(prefix, spec.Label) == key.Role) || !byRole.TryAdd(key.Role, key))
            {
                throw new FormatException($"--package: key '{key.Role}' is not a fleet key, or appears twice.");
            }
        }

        if (byRole.Count != fleetKeys.Count)
        {
            throw new FormatException($"--package: holds {byRole.Count} fleet keys; the fleet key set has {fleetKeys.Count}.");
        }

        Pkcs11Options options = member.Prepare();
        using CeremonyToken token = CeremonyToken.Open(options);
        token.LogInUser();
        RequireFresh(token, member, index, allowed: [member.TransportKeyLabel, member.TransportKeyLabel]);
        (byte[] modulus, byte[] exponent) = token.ReadRsaPublicKey(member.TransportKeyLabel);
        if (Fingerprint(modulus, exponent) != package.TransportFingerprint)
        {
            throw new FormatException($"--package: it is wrapped for transport key {package.TransportFingerprint}, not for this token's {Fingerprint(modulus, exponent)}.");
        }

        var labels = new Pkcs11KeyLabels(prefix);
        try
        {
            IObjectHandle transportKey = token.UnwrapTransportKey(token.Find(CKO.CKO_PRIVATE_KEY, member.TransportKeyLabel), Convert.FromHexString(package.WrappedTransportKey));
            foreach (Pkcs11KeySpec key in fleetKeys)
            {
                WrappedFleetKey wrapped = byRole[Role(prefix, key.Label)];
                token.UnwrapFleetKey(transportKey, key, Convert.FromHexString(wrapped.Wrapped));
                if (key.Kind == Pkcs11KeyKind.DerivationKeyPair)
                {
                    byte[] point = Convert.FromHexString(wrapped.PublicKey ?? throw new FormatException($"--package: key pair '{wrapped.Role}' has no public key."));
                    token.CreateDerivationPublicKey(key.Label, P256.Uncompressed(P256.DecodeUncompressed(point, wrapped.Role)));
                }
            }

            token.Destroy(transportKey);
            token.DestroyAllStartingWith(member.TransportKeyLabel);
            log.Add($"unwrapped the AES transport key with transport key {package.TransportFingerprint} (CKM_RSA_PKCS_OAEP) and " +
                $"{string.Join(", ", fleetKeys.Select(k => $"'{k.Label}'"))} with it (CKM_AES_KEY_WRAP_PAD) inside token '{options.TokenLabel}' " +
                "(CKA_SENSITIVE=true, CKA_EXTRACTABLE=true with CKA_WRAP_WITH_TRUSTED=true); both transport keys destroyed");

            using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options);
            log.Add("identity key pair generated inside the token (CKA_EXTRACTABLE=false)");
            Dictionary<HsmHmacKey, byte[]> checks = [];
            foreach (HsmHmacKey role in Enum.GetValues<HsmHmacKey>())
            {
                checks[role] = hsm.Hmac(role, CheckMessage);
                string expected = byRole[Role(prefix, labels.Hmac(role))].CheckValue ?? string.Empty;
                if (!CryptographicOperations.FixedTimeEquals(checks[role], Convert.FromHexString(expected)))
                {
                    throw new HsmConfigurationException($"'{labels.Hmac(role)}' does not give hsm-0's check value: it is not the key hsm-0 wrapped for this role.");
                }
            }

            if (!hsm.TryUnseal(Convert.FromHexString(package.SealedCheck), SealedCheckAssociatedData, out byte[] opened) || !opened.AsSpan().SequenceEqual(SealedCheckPlaintext))
            {
                throw new HsmConfigurationException($"'{labels.RecordKey}' does not open hsm-0's sealed check value: it is not hsm-0's record key.");
            }

            // x(sk·G) is x(public key): each private key that arrived belongs to the public key that came with it.
            byte[] channel = hsm.ChannelPublicKey;
            if (!hsm.ChannelDiffieHellman(P256.Uncompressed(P256.G)).AsSpan().SequenceEqual(channel.AsSpan(1, 32)))
            {
                throw new HsmConfigurationException($"'{labels.ChannelKey}': the private key is not the public key's.");
            }

            if (!hsm.AkeDiffieHellman(P256.Compress(P256.G)).AsSpan().SequenceEqual(hsm.AkePublicKey))
            {
                throw new HsmConfigurationException($"'{labels.AkeKey}': the private key is not the public key's.");
            }

            log.Add($"check values: every HMAC key gives hsm-0's, the record key opens hsm-0's sealed check, each key pair's private key matches its public key");
            MemberReport report = Report(token, hsm, member, index, checks, log);
            CeremonyFiles.Write(output, report);
        }
        catch
        {
            token.DestroyAllStartingWith(prefix + "-");
            throw;
        }
    }

    /// <summary>
    /// On any HSM: signs the manifest with its identity key, after checking that the manifest lists this HSM's identity
    /// key at <paramref name="index"/>, states the digest of the fleet-key set of the keys this HSM holds, the code hash
    /// of the enclave this simulator runs, and a sane policy. Writes the signature file to <paramref name="output"/>.
    /// </summary>
    internal static DeploymentSignature Sign(CeremonyMember member, int index, string manifestPath, string output)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(manifestPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"--manifest: cannot read '{manifestPath}': {ex.Message}", ex);
        }

        DeploymentManifest manifest = DeploymentManifest.Parse(bytes);
        if (index < 0 || index >= manifest.Hsms.Count)
        {
            throw new FormatException($"--index: the manifest lists {manifest.Hsms.Count} HSMs, not an HSM {index}.");
        }

        (byte[] codeHash, List<DeploymentAssembly> dependencies) = EnclaveCode.OfThisProcess();
        using Pkcs11HsmServices hsm = Pkcs11HsmServices.Open(member.Prepare());
        List<string> refusals = [];
        if (!manifest.Hsms[index].IdentityPublicKey.AsSpan().SequenceEqual(hsm.IdentityPublicKey))
        {
            refusals.Add($"hsms[{index}] is not this HSM's identity key {Convert.ToHexStringLower(hsm.IdentityPublicKey)}");
        }

        FleetKeySet own = FleetKeySet.Create(manifest.FleetId, hsm.ChannelPublicKey, hsm.AkePublicKey);
        if (!own.Digest.AsSpan().SequenceEqual(manifest.FleetKeysSha256))
        {
            refusals.Add($"fleet_keys_sha256 is not the digest of the fleet keys this HSM holds ({Convert.ToHexStringLower(own.Digest)})");
        }

        if (!codeHash.AsSpan().SequenceEqual(manifest.CodeHash)
            || dependencies.Count != manifest.Dependencies.Count
            || dependencies.Zip(manifest.Dependencies).Any(pair => pair.First.Assembly != pair.Second.Assembly || !pair.First.Sha256.AsSpan().SequenceEqual(pair.Second.Sha256)))
        {
            refusals.Add($"the enclave hashes are not those of the enclave this HSM runs (code hash {Convert.ToHexStringLower(codeHash)})");
        }

        refusals.AddRange(manifest.PolicyProblems().Select(problem => $"policy: {problem}"));
        if (refusals.Count > 0)
        {
            throw new InvalidDataException($"hsm-{index} refuses to sign the manifest: {string.Join("; ", refusals)}.");
        }

        byte[] signature = hsm.Sign(DeploymentManifest.SigningMessage(bytes));
        DeploymentSignature record = DeploymentSignature.For(index, hsm.IdentityPublicKey, bytes, signature);
        if (!record.Verifies(bytes))
        {
            throw new HsmConfigurationException($"hsm-{index}'s signature does not verify under its identity key.");
        }

        string temporary = output + ".tmp";
        File.WriteAllText(temporary, record.ToFileText());
        File.Move(temporary, output, overwrite: true);
        return record;
    }

    /// <summary>SHA-256 of the RSA public key's DER SubjectPublicKeyInfo, hex.</summary>
    internal static string Fingerprint(byte[] modulus, byte[] exponent)
    {
        using RSA rsa = RSA.Create(new RSAParameters { Modulus = modulus, Exponent = exponent });
        return Convert.ToHexStringLower(SHA256.HashData(rsa.ExportSubjectPublicKeyInfo()));
    }

    internal static string Role(string prefix, string label) => label[(prefix.Length + 1)..];

    private static string Sha(byte[] value) => Convert.ToHexStringLower(SHA256.HashData(value));

    private static byte[] ReadPin(string path)
    {
        byte[] raw = File.ReadAllBytes(path);
        try
        {
            return [.. System.Text.Encoding.ASCII.GetString(raw).Trim().Select(c => (byte)c)];
        }
        finally
        {
            CryptographicOperations.ZeroMemory(raw);
        }
    }

    private static void CheckReceivers(List<TransportKeyFile> receivers)
    {
        var indices = new HashSet<int>();
        var fingerprints = new HashSet<string>(StringComparer.Ordinal);
        foreach (TransportKeyFile receiver in receivers)
        {
            if (receiver.Hsm < 1 || !indices.Add(receiver.Hsm))
            {
                throw new FormatException($"--transport: hsm-{receiver.Hsm} is not a receiving HSM (1 or more), or appears twice.");
            }

            byte[] modulus = Convert.FromHexString(receiver.Modulus);
            if (modulus.Length * 8 != (int)CeremonyToken.TransportKeyBits || modulus[0] < 0x80 || Fingerprint(modulus, Convert.FromHexString(receiver.PublicExponent)) != receiver.Fingerprint)
            {
                throw new FormatException($"--transport: hsm-{receiver.Hsm}'s transport key is not an RSA-{CeremonyToken.TransportKeyBits} key with the fingerprint it states.");
            }

            if (!fingerprints.Add(receiver.Fingerprint))
            {
                throw new FormatException($"--transport: hsm-{receiver.Hsm} has the transport key of another receiving HSM.");
            }
        }
    }

    // A ceremony starts from new HSMs: no key of this key set (or of an earlier ceremony) is on the token.
    private static void RequireFresh(CeremonyToken token, CeremonyMember member, int index, string[] allowed)
    {
        List<string> found = token.LabelsStartingWith(member.KeyLabelPrefix + "-");
        if (!found.SequenceEqual(allowed.Order(StringComparer.Ordinal)))
        {
            throw new HsmConfigurationException(
                $"hsm-{index}: token '{member.TokenLabel}' in '{member.StateDirectory}' holds {(found.Count == 0 ? "none" : string.Join(", ", found.Select(l => $"'{l}'")))} " +
                $"of the objects '{member.KeyLabelPrefix}-*' where this step expects {(allowed.Length == 0 ? "none" : string.Join(", ", allowed.Select(l => $"'{l}'")))}; a ceremony starts from new HSMs.");
        }
    }

    private static MemberReport Report(CeremonyToken token, Pkcs11HsmServices hsm, CeremonyMember member, int index, Dictionary<HsmHmacKey, byte[]> checks, CeremonyLogLines log)
    {
        var labels = new Pkcs11KeyLabels(member.KeyLabelPrefix);
        List<KeyReport> keys = [];
        foreach (Pkcs11KeySpec key in Pkcs11KeySet.For(labels))
        {
            CKO objectClass = key.Kind is Pkcs11KeyKind.AesKey or Pkcs11KeyKind.HmacKey ? CKO.CKO_SECRET_KEY : CKO.CKO_PRIVATE_KEY;
            KeyProtection protection = token.ReadProtection(token.Find(objectClass, key.Label));
            keys.Add(new KeyReport(key.Label, protection.ToString()));
            log.Add($"'{key.Label}': {protection}");
        }

        return new MemberReport(
            CeremonyFiles.ReportFormat,
            index,
            Convert.ToHexStringLower(hsm.IdentityPublicKey),
            Convert.ToHexStringLower(hsm.AkePublicKey),
            Convert.ToHexStringLower(hsm.ChannelPublicKey),
            checks.ToDictionary(check => Role(member.KeyLabelPrefix, labels.Hmac(check.Key)), check => Convert.ToHexStringLower(check.Value.AsSpan(0, 8))),
            [.. keys],
            [.. log.Lines]);
    }
}

/// <summary>A step's log lines: UTC time, the HSM, the step, what happened.</summary>
internal sealed class CeremonyLogLines(int hsm, string step)
{
    private readonly List<string> _lines = [];

    internal IReadOnlyList<string> Lines => _lines;

    internal void Add(string text) => _lines.Add($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} hsm-{hsm} {step}: {text}");
}

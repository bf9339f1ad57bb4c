using System.Security.Cryptography;
using System.Text.Json;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Protocol.Deployment;

/// <summary>The policy a deployment states: how many HSMs, the commit quorum, and the attempt limit.</summary>
/// <param name="FleetSize">Number of HSMs in the fleet (the manifest's <c>hsms</c> list).</param>
/// <param name="Quorum">HSMs that must capture an entry before it commits: a majority, ⌊N/2⌋ + 1.</param>
/// <param name="AttemptLimit">Wrong guesses after which a record is destroyed (1 to 1000).</param>
public sealed record DeploymentPolicy(int FleetSize, int Quorum, int AttemptLimit)
{
    /// <summary>Lowest attempt limit accepted (the enclave's VaultPolicy range).</summary>
    public const int MinAttemptLimit = 1;

    /// <summary>Highest attempt limit accepted (the enclave's VaultPolicy range).</summary>
    public const int MaxAttemptLimit = 1000;

    /// <summary>The quorum of a fleet of <paramref name="fleetSize"/>: a majority.</summary>
    public static int MajorityOf(int fleetSize) => (fleetSize / 2) + 1;
}

/// <summary>An HSM of the fleet as the manifest lists it.</summary>
/// <param name="Index">Its position, 0-based: the order of the fleet configuration's member list.</param>
/// <param name="IdentityPublicKey">Its own identity public key (ECDSA P-256, SEC1 compressed, 33 bytes).</param>
public sealed record DeploymentHsm(int Index, byte[] IdentityPublicKey)
{
    /// <summary>The fleet member id: the first 16 bytes of SHA-256("HsmVault-v1 member id" ‖ identity public key), as the enclave computes it.</summary>
    public byte[] MemberId => DeploymentManifest.MemberIdOf(IdentityPublicKey);
}

/// <summary>An assembly of the enclave's code and the SHA-256 of its file.</summary>
/// <param name="Assembly">The file name, for example <c>HsmVault.Enclave.dll</c>.</param>
/// <param name="Sha256">SHA-256 of the file's bytes.</param>
public sealed record DeploymentAssembly(string Assembly, byte[] Sha256);

/// <summary>
/// What a fleet's HSMs sign at deployment (docs/DEPLOYMENT.md): the fleet-key set's fleet id and the
/// SHA-256 of its canonical bytes, the enclave's code hash (SHA-256 of HsmVault.Enclave.dll from a
/// deterministic build) and of the project assemblies it runs with, every HSM's identity public key,
/// and the policy. Its one byte form, <see cref="ToCanonicalJson"/>, is what the file holds and what
/// every signature covers: UTF-8 JSON without white space, members in a fixed order, lower-case hex,
/// decimal integers, no final newline. <see cref="Parse"/> accepts only that form.
/// </summary>
public sealed class DeploymentManifest
{
    /// <summary>The value of the <c>format</c> member.</summary>
    public const string FormatName = "hsmvault-deployment-manifest/v1";

    /// <summary>The enclave assembly whose hash is the code hash.</summary>
    public const string EnclaveAssemblyName = "HsmVault.Enclave.dll";

    /// <summary>Most HSMs a manifest lists.</summary>
    public const int MaxHsms = 64;

    private const string File = "manifest";

    private DeploymentManifest(string fleetId, byte[] fleetKeysSha256, byte[] codeHash, IReadOnlyList<DeploymentAssembly> dependencies, IReadOnlyList<DeploymentHsm> hsms, DeploymentPolicy policy)
    {
        FleetId = fleetId;
        FleetKeysSha256 = fleetKeysSha256;
        CodeHash = codeHash;
        Dependencies = dependencies;
        Hsms = hsms;
        Policy = policy;
    }

    /// <summary>The signing context: a signature is ECDSA P-256 / SHA-256 over this label followed by the manifest bytes.</summary>
    public static ReadOnlySpan<byte> SignatureContext => "HsmVault-v1 deployment manifest"u8;

    /// <summary>The fleet-key set's fleet id.</summary>
    public string FleetId { get; }

    /// <summary>SHA-256 of the fleet-key file's canonical bytes (<see cref="FleetKeySet.Digest"/>).</summary>
    public byte[] FleetKeysSha256 { get; }

    /// <summary>The code hash: SHA-256 of <see cref="EnclaveAssemblyName"/>.</summary>
    public byte[] CodeHash { get; }

    /// <summary>The project assemblies the enclave runs with (HsmVault.Crypto.dll, HsmVault.Protocol.dll), by name.</summary>
    public IReadOnlyList<DeploymentAssembly> Dependencies { get; }

    /// <summary>The fleet's HSMs, in configuration order.</summary>
    public IReadOnlyList<DeploymentHsm> Hsms { get; }

    public DeploymentPolicy Policy { get; }

    /// <summary>SHA-256 of the canonical bytes.</summary>
    public byte[] Digest => SHA256.HashData(ToCanonicalJson());

    /// <summary>
    /// A manifest from its parts, its HSMs numbered in the order given. Throws <see cref="DeploymentFormatException"/>
    /// naming a part that has no valid encoding; the policy's sanity is not judged here (<see cref="PolicyProblems"/>).
    /// </summary>
    public static DeploymentManifest Create(
        FleetKeySet fleetKeys, byte[] codeHash, IEnumerable<DeploymentAssembly> dependencies, IEnumerable<byte[]> identityPublicKeys, int quorum, int attemptLimit)
    {
        ArgumentNullException.ThrowIfNull(fleetKeys);
        ArgumentNullException.ThrowIfNull(codeHash);
        ArgumentNullException.ThrowIfNull(dependencies);
        ArgumentNullException.ThrowIfNull(identityPublicKeys);
        RequireLength(codeHash, 32, "enclave.sha256");
        List<DeploymentAssembly> sorted = [.. dependencies.OrderBy(d => d.Assembly, StringComparer.Ordinal)];
        for (int i = 0; i < sorted.Count; i++)
        {
            CheckAssemblyName(sorted[i].Assembly, $"enclave.dependencies[{i}].assembly");
            RequireLength(sorted[i].Sha256, 32, $"enclave.dependencies[{i}].sha256");
        }

        CheckDistinctAssemblies(sorted);
        List<DeploymentHsm> hsms = [.. identityPublicKeys.Select((key, index) => new DeploymentHsm(index, (byte[])key.Clone()))];
        if (hsms.Count is 0 or > MaxHsms)
        {
            throw new DeploymentFormatException(File, "hsms", $"must list 1 to {MaxHsms} HSMs, not {hsms.Count}");
        }

        foreach (DeploymentHsm hsm in hsms)
        {
            CheckIdentityKey(hsm.IdentityPublicKey, $"hsms[{hsm.Index}].identity_public_key");
        }

        return new DeploymentManifest(fleetKeys.FleetId, fleetKeys.Digest, (byte[])codeHash.Clone(), sorted, hsms, new DeploymentPolicy(hsms.Count, quorum, attemptLimit));
    }

    /// <summary>
    /// Reads a manifest from its file bytes. Only the canonical form is accepted: anything else (white space, another
    /// member order, upper-case hex, a byte order mark, a final newline) is refused, so the bytes signed are the bytes read.
    /// </summary>
    public static DeploymentManifest Parse(ReadOnlySpan<byte> bytes)
    {
        DeploymentManifest manifest = ParseStructure(bytes);
        if (!manifest.ToCanonicalJson().AsSpan().SequenceEqual(bytes))
        {
            throw new DeploymentFormatException(File, "$", "is not in the canonical form (UTF-8 JSON, no white space, members in the documented order, lower-case hex, no final newline)");
        }

        return manifest;
    }

    /// <summary>The member id the enclave gives an HSM with <paramref name="identityPublicKey"/>.</summary>
    public static byte[] MemberIdOf(ReadOnlySpan<byte> identityPublicKey) =>
        SHA256.HashData([.. "HsmVault-v1 member id"u8, .. identityPublicKey])[..16];

    /// <summary>The bytes an HSM signs for manifest bytes <paramref name="manifest"/>: <see cref="SignatureContext"/> ‖ manifest.</summary>
    public static byte[] SigningMessage(ReadOnlySpan<byte> manifest) => [.. SignatureContext, .. manifest];

    /// <summary>The bytes an HSM signs for this manifest.</summary>
    public byte[] SigningMessage() => SigningMessage(ToCanonicalJson());

    /// <summary>
    /// What is wrong with the policy, one sentence each (empty when sane): the fleet size must be the number of HSMs,
    /// the quorum a majority of it (⌊N/2⌋ + 1, what the hosts put in the fleet configuration), the attempt limit in
    /// 1..1000, and no identity key may appear twice.
    /// </summary>
    public IReadOnlyList<string> PolicyProblems()
    {
        List<string> problems = [];
        if (Policy.FleetSize != Hsms.Count)
        {
            problems.Add($"fleet_size is {Policy.FleetSize} but the manifest lists {Hsms.Count} HSMs");
        }

        int majority = DeploymentPolicy.MajorityOf(Hsms.Count);
        if (Policy.Quorum != majority)
        {
            problems.Add($"quorum is {Policy.Quorum}; a fleet of {Hsms.Count} commits at a majority, {majority}");
        }

        if (Policy.AttemptLimit is < DeploymentPolicy.MinAttemptLimit or > DeploymentPolicy.MaxAttemptLimit)
        {
            problems.Add($"attempt_limit is {Policy.AttemptLimit}, outside {DeploymentPolicy.MinAttemptLimit}..{DeploymentPolicy.MaxAttemptLimit}");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (DeploymentHsm hsm in Hsms)
        {
            if (!seen.Add(Convert.ToHexStringLower(hsm.IdentityPublicKey)))
            {
                problems.Add($"hsms[{hsm.Index}] has the identity key of an HSM listed before it; each HSM's identity key is its own");
            }
        }

        return problems;
    }

    /// <summary>The canonical bytes (what the file holds and the signatures cover).</summary>
    public byte[] ToCanonicalJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("format", FormatName);
            writer.WriteString("fleet_id", FleetId);
            writer.WriteString("fleet_keys_sha256", Convert.ToHexStringLower(FleetKeysSha256));
            writer.WriteStartObject("enclave");
            writer.WriteString("assembly", EnclaveAssemblyName);
            writer.WriteString("sha256", Convert.ToHexStringLower(CodeHash));
            writer.WriteStartArray("dependencies");
            foreach (DeploymentAssembly dependency in Dependencies)
            {
                writer.WriteStartObject();
                writer.WriteString("assembly", dependency.Assembly);
                writer.WriteString("sha256", Convert.ToHexStringLower(dependency.Sha256));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteStartArray("hsms");
            foreach (DeploymentHsm hsm in Hsms)
            {
                writer.WriteStartObject();
                writer.WriteNumber("index", hsm.Index);
                writer.WriteString("member_id", Convert.ToHexStringLower(hsm.MemberId));
                writer.WriteString("identity_public_key", Convert.ToHexStringLower(hsm.IdentityPublicKey));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteStartObject("policy");
            writer.WriteNumber("fleet_size", Policy.FleetSize);
            writer.WriteNumber("quorum", Policy.Quorum);
            writer.WriteNumber("attempt_limit", Policy.AttemptLimit);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static DeploymentManifest ParseStructure(ReadOnlySpan<byte> bytes)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes.ToArray(), new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            throw new DeploymentFormatException(File, "$", $"not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1})", ex);
        }

        using (document)
        {
            JsonElement root = RequireObject(document.RootElement, "$");
            DeploymentJson.RefuseUnknown(File, root, "$", "format", "fleet_id", "fleet_keys_sha256", "enclave", "hsms", "policy");
            string format = DeploymentJson.RequireString(File, root, "format", "format");
            if (format != FormatName)
            {
                throw new DeploymentFormatException(File, "format", $"'{format}' is not '{FormatName}'");
            }

            string fleetId = DeploymentJson.RequireString(File, root, "fleet_id", "fleet_id");
            try
            {
                // The fleet-key set's own rules for a fleet id.
                _ = FleetKeySet.Create(fleetId, [0x04, .. new byte[64]], [0x02, .. new byte[32]]);
            }
            catch (FleetKeySetFormatException ex)
            {
                throw new DeploymentFormatException(File, "fleet_id", ex.Reason, ex);
            }

            byte[] fleetKeys = DeploymentJson.RequireHex(File, root, "fleet_keys_sha256", "fleet_keys_sha256", 32);

            JsonElement enclave = RequireObject(Member(root, "enclave", "enclave"), "enclave");
            DeploymentJson.RefuseUnknown(File, enclave, "enclave", "assembly", "sha256", "dependencies");
            string assembly = DeploymentJson.RequireString(File, enclave, "assembly", "enclave.assembly");
            if (assembly != EnclaveAssemblyName)
            {
                throw new DeploymentFormatException(File, "enclave.assembly", $"'{assembly}' is not '{EnclaveAssemblyName}'");
            }

            byte[] codeHash = DeploymentJson.RequireHex(File, enclave, "sha256", "enclave.sha256", 32);
            List<DeploymentAssembly> dependencies = [];
            int d = 0;
            foreach (JsonElement entry in RequireArray(Member(enclave, "dependencies", "enclave.dependencies"), "enclave.dependencies").EnumerateArray())
            {
                string path = $"enclave.dependencies[{d++}]";
                RequireObject(entry, path);
                DeploymentJson.RefuseUnknown(File, entry, path, "assembly", "sha256");
                string name = DeploymentJson.RequireString(File, entry, "assembly", $"{path}.assembly");
                CheckAssemblyName(name, $"{path}.assembly");
                dependencies.Add(new DeploymentAssembly(name, DeploymentJson.RequireHex(File, entry, "sha256", $"{path}.sha256", 32)));
            }

            CheckDistinctAssemblies(dependencies);

            List<DeploymentHsm> hsms = [];
            foreach (JsonElement entry in RequireArray(Member(root, "hsms", "hsms"), "hsms").EnumerateArray())
            {
                string path = $"hsms[{hsms.Count}]";
                RequireObject(entry, path);
                DeploymentJson.RefuseUnknown(File, entry, path, "index", "member_id", "identity_public_key");
                int index = DeploymentJson.RequireInt(File, entry, "index", $"{path}.index");
                if (index != hsms.Count)
                {
                    throw new DeploymentFormatException(File, $"{path}.index", $"is {index}; HSMs are listed in order from 0");
                }

                byte[] memberId = DeploymentJson.RequireHex(File, entry, "member_id", $"{path}.member_id", 16);
                byte[] identity = DeploymentJson.RequireHex(File, entry, "identity_public_key", $"{path}.identity_public_key", 33);
                CheckIdentityKey(identity, $"{path}.identity_public_key");
                if (!memberId.AsSpan().SequenceEqual(MemberIdOf(identity)))
                {
                    throw new DeploymentFormatException(File, $"{path}.member_id", "is not the member id of the identity public key");
                }

                hsms.Add(new DeploymentHsm(index, identity));
            }

            if (hsms.Count is 0 or > MaxHsms)
            {
                throw new DeploymentFormatException(File, "hsms", $"must list 1 to {MaxHsms} HSMs, not {hsms.Count}");
            }

            JsonElement policy = RequireObject(Member(root, "policy", "policy"), "policy");
            DeploymentJson.RefuseUnknown(File, policy, "policy", "fleet_size", "quorum", "attempt_limit");
            var parsedPolicy = new DeploymentPolicy(
                DeploymentJson.RequireInt(File, policy, "fleet_size", "policy.fleet_size"),
                DeploymentJson.RequireInt(File, policy, "quorum", "policy.quorum"),
                DeploymentJson.RequireInt(File, policy, "attempt_limit", "policy.attempt_limit"));
            return new DeploymentManifest(fleetId, fleetKeys, codeHash, dependencies, hsms, parsedPolicy);
        }
    }

    private static JsonElement Member(JsonElement element, string name, string path) =>
        element.TryGetProperty(name, out JsonElement value) ? value : throw new DeploymentFormatException(File, path, "missing");

    private static JsonElement RequireObject(JsonElement element, string path) =>
        element.ValueKind == JsonValueKind.Object ? element : throw new DeploymentFormatException(File, path, $"must be a JSON object, got {element.ValueKind}");

    private static JsonElement RequireArray(JsonElement element, string path) =>
        element.ValueKind == JsonValueKind.Array ? element : throw new DeploymentFormatException(File, path, $"must be an array, got {element.ValueKind}");

    private static void RequireLength(byte[] value, int length, string path)
    {
        if (value.Length != length)
        {
            throw new DeploymentFormatException(File, path, $"must be {length} bytes, not {value.Length}");
        }
    }

    private static void CheckIdentityKey(byte[] key, string path)
    {
        if (!P256Verifier.IsCompressedPoint(key))
        {
            throw new DeploymentFormatException(File, path, "is not a SEC1 compressed P-256 point (33 bytes starting 02 or 03, on the curve)");
        }
    }

    private static void CheckAssemblyName(string name, string path)
    {
        if (name.Length is 0 or > 128 || !name.EndsWith(".dll", StringComparison.Ordinal) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
        {
            throw new DeploymentFormatException(File, path, "must be an assembly file name of letters, digits, '.', '-' or '_' ending in .dll");
        }
    }

    private static void CheckDistinctAssemblies(IReadOnlyList<DeploymentAssembly> dependencies)
    {
        for (int i = 0; i < dependencies.Count; i++)
        {
            if (dependencies[i].Assembly == EnclaveAssemblyName || (i > 0 && string.CompareOrdinal(dependencies[i - 1].Assembly, dependencies[i].Assembly) >= 0))
            {
                throw new DeploymentFormatException(File, $"enclave.dependencies[{i}].assembly", "dependencies are distinct assemblies other than the enclave's, in ordinal name order");
            }
        }
    }
}

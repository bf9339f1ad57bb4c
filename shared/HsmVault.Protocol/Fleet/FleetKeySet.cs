using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace HsmVault.Protocol.Fleet;

/// <summary>
/// The public keys a client needs to trust a fleet, with their roles: what an app pins, and what
/// an over-the-air validation bundle carries. Its file form is JSON; <see cref="ToCanonicalJson"/>
/// is the one byte form its <see cref="Digest"/> covers (fixed member order, no white space,
/// lower-case hex, roles in enum order), so any two parties compute the same digest.
/// </summary>
public sealed class FleetKeySet
{
    /// <summary>The value of the <c>format</c> member this version reads and writes.</summary>
    public const string FormatName = "hsmvault-fleet-keys/v1";

    /// <summary>Longest fleet id accepted.</summary>
    public const int MaxFleetIdLength = 128;

    private static readonly FleetKeyRole[] Roles = Enum.GetValues<FleetKeyRole>();

    private readonly Dictionary<FleetKeyRole, byte[]> _keys;

    private FleetKeySet(string fleetId, Dictionary<FleetKeyRole, byte[]> keys)
    {
        FleetId = fleetId;
        _keys = keys;
    }

    /// <summary>The fleet's name, chosen at deployment (letters, digits, '.', '-', '_').</summary>
    public string FleetId { get; }

    /// <summary>The channel key, SEC1 uncompressed (65 bytes).</summary>
    public byte[] ChannelPublicKey => (byte[])_keys[FleetKeyRole.Channel].Clone();

    /// <summary>The OPAQUE AKE key, SEC1 compressed (33 bytes).</summary>
    public byte[] OpaqueAkePublicKey => (byte[])_keys[FleetKeyRole.OpaqueAke].Clone();

    /// <summary>SHA-256 of the canonical JSON bytes.</summary>
    public byte[] Digest => SHA256.HashData(ToCanonicalJson());

    /// <summary>A key set from its parts; throws <see cref="FleetKeySetFormatException"/> naming a bad part.</summary>
    public static FleetKeySet Create(string fleetId, ReadOnlySpan<byte> channelPublicKey, ReadOnlySpan<byte> opaqueAkePublicKey)
    {
        CheckFleetId(fleetId, "fleet_id");
        var keys = new Dictionary<FleetKeyRole, byte[]>
        {
            [FleetKeyRole.Channel] = CheckKey(FleetKeyRole.Channel, channelPublicKey.ToArray(), "channel"),
            [FleetKeyRole.OpaqueAke] = CheckKey(FleetKeyRole.OpaqueAke, opaqueAkePublicKey.ToArray(), "opaque-ake"),
        };
        return new FleetKeySet(fleetId, keys);
    }

    /// <summary>Reads a key set from JSON (any member order and white space); unknown members are refused.</summary>
    public static FleetKeySet Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            throw new FleetKeySetFormatException("$", $"not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1})", ex);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FleetKeySetFormatException("$", $"must be a JSON object, got {root.ValueKind}");
            }

            RefuseUnknown(root, "$", "format", "fleet_id", "keys");
            string format = RequireString(root, "format", "format");
            if (format != FormatName)
            {
                throw new FleetKeySetFormatException("format", $"'{format}' is not '{FormatName}'");
            }

            string fleetId = RequireString(root, "fleet_id", "fleet_id");
            CheckFleetId(fleetId, "fleet_id");
            if (!root.TryGetProperty("keys", out JsonElement list) || list.ValueKind != JsonValueKind.Array)
            {
                throw new FleetKeySetFormatException("keys", "missing, or not an array");
            }

            var keys = new Dictionary<FleetKeyRole, byte[]>();
            int index = 0;
            foreach (JsonElement entry in list.EnumerateArray())
            {
                string path = $"keys[{index++}]";
                if (entry.ValueKind != JsonValueKind.Object)
                {
                    throw new FleetKeySetFormatException(path, "must be an object");
                }

                RefuseUnknown(entry, path, "role", "algorithm", "public_key");
                string roleName = RequireString(entry, "role", $"{path}.role");
                FleetKeyRole role = RoleFromName(roleName) ?? throw new FleetKeySetFormatException($"{path}.role", $"'{roleName}' is not a known role ({string.Join(", ", Roles.Select(RoleName))})");
                string algorithm = RequireString(entry, "algorithm", $"{path}.algorithm");
                if (algorithm != AlgorithmOf(role))
                {
                    throw new FleetKeySetFormatException($"{path}.algorithm", $"'{algorithm}' is not '{AlgorithmOf(role)}', the algorithm of role {roleName}");
                }

                string hex = RequireString(entry, "public_key", $"{path}.public_key");
                byte[] key;
                try
                {
                    key = Convert.FromHexString(hex);
                }
                catch (FormatException)
                {
                    throw new FleetKeySetFormatException($"{path}.public_key", "not hex");
                }

                if (!keys.TryAdd(role, CheckKey(role, key, $"{path}.public_key")))
                {
                    throw new FleetKeySetFormatException($"{path}.role", $"role {roleName} appears twice");
                }
            }

            foreach (FleetKeyRole role in Roles)
            {
                if (!keys.ContainsKey(role))
                {
                    throw new FleetKeySetFormatException("keys", $"no key with role {RoleName(role)}");
                }
            }

            return new FleetKeySet(fleetId, keys);
        }
    }

    /// <summary>Reads a key set from a file; errors name the file.</summary>
    public static FleetKeySet Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FleetKeySetFormatException(path, ex is FileNotFoundException or DirectoryNotFoundException ? "no such file" : "cannot be read", ex);
        }

        return Parse(text);
    }

    /// <summary>The public key of <paramref name="role"/>.</summary>
    public byte[] PublicKey(FleetKeyRole role) => (byte[])_keys[role].Clone();

    /// <summary>The canonical bytes: UTF-8 JSON, fixed member order, no white space.</summary>
    public byte[] ToCanonicalJson() => Write(indented: false);

    /// <summary>The file form: the canonical JSON indented for reading, with a final newline.</summary>
    public string ToFileText() => Encoding.UTF8.GetString(Write(indented: true)) + "\n";

    /// <summary>The role's name in the file form (<c>channel</c>, <c>opaque-ake</c>).</summary>
    public static string RoleName(FleetKeyRole role) => role switch
    {
        FleetKeyRole.Channel => "channel",
        FleetKeyRole.OpaqueAke => "opaque-ake",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "unknown role"),
    };

    /// <summary>The algorithm name each role's key is for.</summary>
    public static string AlgorithmOf(FleetKeyRole role) => role switch
    {
        FleetKeyRole.Channel => "HPKE DHKEM(P-256, HKDF-SHA256)",
        FleetKeyRole.OpaqueAke => "OPAQUE-3DH P256-SHA256",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "unknown role"),
    };

    private byte[] Write(bool indented)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("format", FormatName);
            writer.WriteString("fleet_id", FleetId);
            writer.WriteStartArray("keys");
            foreach (FleetKeyRole role in Roles)
            {
                writer.WriteStartObject();
                writer.WriteString("role", RoleName(role));
                writer.WriteString("algorithm", AlgorithmOf(role));
                writer.WriteString("public_key", Convert.ToHexStringLower(_keys[role]));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static FleetKeyRole? RoleFromName(string name) =>
        Roles.Cast<FleetKeyRole?>().FirstOrDefault(role => RoleName(role!.Value) == name);

    private static byte[] CheckKey(FleetKeyRole role, byte[] key, string field)
    {
        (int length, string shape, Func<byte, bool> prefixOk) = role switch
        {
            FleetKeyRole.Channel => (65, "SEC1 uncompressed P-256 point: 65 bytes starting 04", (Func<byte, bool>)(b => b == 0x04)),
            _ => (33, "SEC1 compressed P-256 point: 33 bytes starting 02 or 03", b => b is 0x02 or 0x03),
        };
        if (key.Length != length || !prefixOk(key[0]))
        {
            throw new FleetKeySetFormatException(field, $"must be a {shape}; got {key.Length} bytes");
        }

        return key;
    }

    private static void CheckFleetId(string fleetId, string field)
    {
        if (string.IsNullOrEmpty(fleetId) || fleetId.Length > MaxFleetIdLength
            || !fleetId.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
        {
            throw new FleetKeySetFormatException(field, $"must be 1 to {MaxFleetIdLength} characters of letters, digits, '.', '-' or '_'");
        }
    }

    private static string RequireString(JsonElement element, string name, string path) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new FleetKeySetFormatException(path, "missing, or not a string");

    private static void RefuseUnknown(JsonElement element, string path, params string[] known)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in element.EnumerateObject())
        {
            string where = path == "$" ? property.Name : $"{path}.{property.Name}";
            if (!known.Contains(property.Name, StringComparer.Ordinal))
            {
                throw new FleetKeySetFormatException(where, $"unknown member (known: {string.Join(", ", known)})");
            }

            if (!seen.Add(property.Name))
            {
                throw new FleetKeySetFormatException(where, "appears twice");
            }
        }
    }
}

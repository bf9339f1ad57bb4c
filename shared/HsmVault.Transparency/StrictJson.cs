using System.Globalization;
using System.Text.Json;

namespace HsmVault.Transparency;

/// <summary>
/// The strict JSON reading every document here shares: an object with only known members, each
/// at most once, of the expected kind; errors name the JSON path.
/// </summary>
public static class StrictJson
{
    private static readonly JsonDocumentOptions Options = new() { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 16 };

    /// <summary>Parses <paramref name="json"/> as a JSON document whose root is an object.</summary>
    public static JsonDocument ParseObject(string json, string what)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, Options);
        }
        catch (JsonException ex)
        {
            throw new TransparencyFormatException(what, $"not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1})", ex);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new TransparencyFormatException(what, "must be a JSON object");
        }

        return document;
    }

    /// <summary>Refuses members not in <paramref name="known"/> and repeated members.</summary>
    public static void RefuseUnknown(JsonElement element, string path, params string[] known)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new TransparencyFormatException(path, "must be a JSON object");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in element.EnumerateObject())
        {
            string where = $"{path}.{property.Name}";
            if (!known.Contains(property.Name, StringComparer.Ordinal))
            {
                throw new TransparencyFormatException(where, $"unknown member (known: {string.Join(", ", known)})");
            }

            if (!seen.Add(property.Name))
            {
                throw new TransparencyFormatException(where, "appears twice");
            }
        }
    }

    public static string RequireString(JsonElement element, string name, string path) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new TransparencyFormatException($"{path}.{name}", "missing, or not a string");

    public static string? OptionalString(JsonElement element, string name, string path)
    {
        if (!element.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw new TransparencyFormatException($"{path}.{name}", "not a string");
    }

    public static long RequireInteger(JsonElement element, string name, string path, long minimum)
    {
        if (!element.TryGetProperty(name, out JsonElement value) || value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long number))
        {
            throw new TransparencyFormatException($"{path}.{name}", "missing, or not a whole number");
        }

        return number >= minimum ? number : throw new TransparencyFormatException($"{path}.{name}", $"{number.ToString(CultureInfo.InvariantCulture)} is below {minimum.ToString(CultureInfo.InvariantCulture)}");
    }

    public static JsonElement RequireObject(JsonElement element, string name, string path) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Object
            ? value
            : throw new TransparencyFormatException($"{path}.{name}", "missing, or not an object");

    public static byte[] RequireBase64(JsonElement element, string name, string path, int length)
    {
        string text = RequireString(element, name, path);
        return Base64(text, $"{path}.{name}", length);
    }

    public static byte[] Base64(string text, string field, int length)
    {
        byte[]? bytes = Notes.StrictBase64.Decode(text);
        if (bytes is null || bytes.Length != length)
        {
            throw new TransparencyFormatException(field, $"must be the base64 of {length.ToString(CultureInfo.InvariantCulture)} bytes");
        }

        return bytes;
    }

    public static byte[] RequireHex(JsonElement element, string name, string path, int length)
    {
        string text = RequireString(element, name, path);
        if (text.Length != 2 * length || !text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f'))
        {
            throw new TransparencyFormatException($"{path}.{name}", $"must be {length.ToString(CultureInfo.InvariantCulture)} bytes in lower-case hex");
        }

        return Convert.FromHexString(text);
    }
}

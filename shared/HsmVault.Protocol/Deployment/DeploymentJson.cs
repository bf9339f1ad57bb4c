using System.Globalization;
using System.Text.Json;

namespace HsmVault.Protocol.Deployment;

/// <summary>Strict readers for the deployment files: every error names the file and the JSON path.</summary>
internal static class DeploymentJson
{
    internal static void RefuseUnknown(string file, JsonElement element, string path, params string[] known)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in element.EnumerateObject())
        {
            string where = path == "$" ? property.Name : $"{path}.{property.Name}";
            if (!known.Contains(property.Name, StringComparer.Ordinal))
            {
                throw new DeploymentFormatException(file, where, $"unknown member (known: {string.Join(", ", known)})");
            }

            if (!seen.Add(property.Name))
            {
                throw new DeploymentFormatException(file, where, "appears twice");
            }
        }
    }

    internal static string RequireString(string file, JsonElement element, string name, string path) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new DeploymentFormatException(file, path, "missing, or not a string");

    internal static int RequireInt(string file, JsonElement element, string name, string path)
    {
        if (!element.TryGetProperty(name, out JsonElement value) || value.ValueKind != JsonValueKind.Number)
        {
            throw new DeploymentFormatException(file, path, "missing, or not a number");
        }

        string raw = value.GetRawText();
        if (!raw.All(char.IsAsciiDigit) || (raw.Length > 1 && raw[0] == '0') || !int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
        {
            throw new DeploymentFormatException(file, path, $"'{raw}' is not a whole number in decimal without leading zeros");
        }

        return number;
    }

    internal static byte[] RequireHex(string file, JsonElement element, string name, string path, int length)
    {
        string hex = RequireString(file, element, name, path);
        if (hex.Length != length * 2 || !hex.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f'))
        {
            throw new DeploymentFormatException(file, path, $"must be {length} bytes in lower-case hex ({length * 2} digits)");
        }

        return Convert.FromHexString(hex);
    }
}

using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace HsmVault.Protocol.Deployment;

/// <summary>
/// One HSM's signature on a deployment manifest, as its file in the evidence folder holds it: which HSM
/// (its index and identity public key), the SHA-256 of the manifest bytes it signed, and the ECDSA P-256
/// signature (r ‖ s) by its identity key over <see cref="DeploymentManifest.SigningMessage(ReadOnlySpan{byte})"/>.
/// The file is not signed itself: a verifier checks the signature against the manifest's own list of keys.
/// </summary>
/// <param name="Index">The HSM's index in the manifest.</param>
/// <param name="IdentityPublicKey">The key that made the signature, SEC1 compressed.</param>
/// <param name="ManifestSha256">SHA-256 of the manifest bytes signed.</param>
/// <param name="Signature">r ‖ s, 64 bytes.</param>
public sealed record DeploymentSignature(int Index, byte[] IdentityPublicKey, byte[] ManifestSha256, byte[] Signature)
{
    /// <summary>The value of the <c>format</c> member.</summary>
    public const string FormatName = "hsmvault-deployment-signature/v1";

    /// <summary>The algorithm, as the file names it.</summary>
    public const string Algorithm = "ECDSA P-256 SHA-256";

    /// <summary>Whether <see cref="Signature"/> is a valid signature by <see cref="IdentityPublicKey"/> over <paramref name="manifest"/>.</summary>
    public bool Verifies(ReadOnlySpan<byte> manifest) => P256Verifier.Verify(IdentityPublicKey, DeploymentManifest.SigningMessage(manifest), Signature);

    /// <summary>The file form: indented JSON with a final newline.</summary>
    public string ToFileText()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("format", FormatName);
            writer.WriteNumber("hsm", Index);
            writer.WriteString("identity_public_key", Convert.ToHexStringLower(IdentityPublicKey));
            writer.WriteString("manifest_sha256", Convert.ToHexStringLower(ManifestSha256));
            writer.WriteString("algorithm", Algorithm);
            writer.WriteString("signature", Convert.ToHexStringLower(Signature));
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>A signature record for <paramref name="manifest"/> bytes signed by the HSM at <paramref name="index"/>.</summary>
    public static DeploymentSignature For(int index, byte[] identityPublicKey, ReadOnlySpan<byte> manifest, byte[] signature) =>
        new(index, identityPublicKey, SHA256.HashData(manifest), signature);

    /// <summary>Reads a signature file; <paramref name="file"/> names it in errors.</summary>
    public static DeploymentSignature Parse(string text, string file)
    {
        ArgumentNullException.ThrowIfNull(text);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 4 });
        }
        catch (JsonException ex)
        {
            throw new DeploymentFormatException(file, "$", $"not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1})", ex);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new DeploymentFormatException(file, "$", $"must be a JSON object, got {root.ValueKind}");
            }

            DeploymentJson.RefuseUnknown(file, root, "$", "format", "hsm", "identity_public_key", "manifest_sha256", "algorithm", "signature");
            string format = DeploymentJson.RequireString(file, root, "format", "format");
            if (format != FormatName)
            {
                throw new DeploymentFormatException(file, "format", $"'{format}' is not '{FormatName}'");
            }

            string algorithm = DeploymentJson.RequireString(file, root, "algorithm", "algorithm");
            if (algorithm != Algorithm)
            {
                throw new DeploymentFormatException(file, "algorithm", $"'{algorithm}' is not '{Algorithm}'");
            }

            return new DeploymentSignature(
                DeploymentJson.RequireInt(file, root, "hsm", "hsm"),
                DeploymentJson.RequireHex(file, root, "identity_public_key", "identity_public_key", 33),
                DeploymentJson.RequireHex(file, root, "manifest_sha256", "manifest_sha256", 32),
                DeploymentJson.RequireHex(file, root, "signature", "signature", 64));
        }
    }
}

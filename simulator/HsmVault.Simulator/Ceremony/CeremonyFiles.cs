using System.Text.Json;

namespace HsmVault.Simulator.Ceremony;

/// <summary>
/// The files the ceremony's steps hand each other through the ceremony's work folder (never published,
/// removed at the end): a receiving HSM's transport public key, the key package wrapped for it, and
/// each HSM's report. None holds a secret in the clear: a package holds fleet keys only wrapped under
/// a transport key that exists inside the two tokens and is destroyed when the step ends.
/// </summary>
internal static class CeremonyFiles
{
    internal const string TransportFormat = "hsmvault-ceremony-transport-key/v1";
    internal const string PackageFormat = "hsmvault-ceremony-key-package/v1";
    internal const string ReportFormat = "hsmvault-ceremony-member-report/v1";

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    internal static void Write<T>(string path, T value)
    {
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(value, Options) + "\n");
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads a step's file; <paramref name="option"/> names the option it came from in errors.</summary>
    internal static T Read<T>(string path, string option, string format, Func<T, string> formatOf)
    {
        T? value;
        try
        {
            value = JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{option}: cannot read '{path}': {ex.Message}", ex);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{option}: '{path}' is not a {format} file: {ex.Message}", ex);
        }

        if (value is null || formatOf(value) != format)
        {
            throw new FormatException($"{option}: '{path}' is not a {format} file.");
        }

        return value;
    }
}

/// <summary>A receiving HSM's RSA transport public key (step <c>prepare</c>).</summary>
/// <param name="Format"><see cref="CeremonyFiles.TransportFormat"/>.</param>
/// <param name="Hsm">The receiving HSM's index.</param>
/// <param name="Modulus">The RSA modulus, hex.</param>
/// <param name="PublicExponent">The RSA public exponent, hex.</param>
/// <param name="Fingerprint">SHA-256 of the key's DER SubjectPublicKeyInfo, hex: how the log names it.</param>
/// <param name="Log">What the step did, one line each.</param>
internal sealed record TransportKeyFile(string Format, int Hsm, string Modulus, string PublicExponent, string Fingerprint, string[] Log);

/// <summary>The fleet keys wrapped for one receiving HSM (step <c>export</c>).</summary>
/// <param name="Format"><see cref="CeremonyFiles.PackageFormat"/>.</param>
/// <param name="Hsm">The receiving HSM's index.</param>
/// <param name="TransportFingerprint">The fingerprint of the RSA transport key the package is for.</param>
/// <param name="WrappedTransportKey">The AES-256 transport key, RSA-OAEP wrapped under that RSA key, hex.</param>
/// <param name="Keys">Every fleet key, AES-KWP wrapped under the AES transport key.</param>
/// <param name="SealedCheck">A check value sealed by the source with the record key (the receiver must open it), hex.</param>
internal sealed record KeyPackage(string Format, int Hsm, string TransportFingerprint, string WrappedTransportKey, WrappedFleetKey[] Keys, string SealedCheck);

/// <summary>One wrapped fleet key of a <see cref="KeyPackage"/>.</summary>
/// <param name="Role">The label after the key label prefix, for example <c>record-key</c>.</param>
/// <param name="Wrapped">The key wrapped with CKM_AES_KEY_WRAP_PAD, hex.</param>
/// <param name="PublicKey">For a key pair, the public key (SEC1 uncompressed), hex.</param>
/// <param name="CheckValue">For an HMAC key, HMAC-SHA-256 of the check message under it, hex.</param>
internal sealed record WrappedFleetKey(string Role, string Wrapped, string? PublicKey, string? CheckValue);

/// <summary>What an HSM holds after its step (<c>export</c> or <c>import</c>): its public keys, the fleet keys' check values and protection.</summary>
/// <param name="Format"><see cref="CeremonyFiles.ReportFormat"/>.</param>
/// <param name="Hsm">The HSM's index.</param>
/// <param name="IdentityPublicKey">Its own identity public key, SEC1 compressed, hex.</param>
/// <param name="AkePublicKey">The fleet's AKE public key, SEC1 compressed, hex.</param>
/// <param name="ChannelPublicKey">The fleet's channel public key, SEC1 uncompressed, hex.</param>
/// <param name="CheckValues">Per HMAC key role, the first 8 bytes of its check value, hex (the same in every HSM).</param>
/// <param name="Keys">Every key of the key set with its protection attributes.</param>
/// <param name="Log">What the step did, one line each.</param>
internal sealed record MemberReport(string Format, int Hsm, string IdentityPublicKey, string AkePublicKey, string ChannelPublicKey, Dictionary<string, string> CheckValues, KeyReport[] Keys, string[] Log);

/// <summary>One key of a <see cref="MemberReport"/>.</summary>
/// <param name="Label">Its CKA_LABEL.</param>
/// <param name="Protection">Its protection attributes (<see cref="KeyProtection"/>).</param>
internal sealed record KeyReport(string Label, string Protection);

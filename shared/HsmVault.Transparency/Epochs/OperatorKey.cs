using System.Security.Cryptography;
using System.Text;

namespace HsmVault.Transparency.Epochs;

/// <summary>
/// The operator's public key, ECDSA P-256 (SEC1 uncompressed, 65 bytes), whose private half
/// stays in the operator's HSM. It signs two statements, each with its own label:
/// <code>
/// counter-signature = ECDSA-SHA256("HsmVault-v1 operator counter-signature" || 0x00 || witness signature (64))
/// append request    = ECDSA-SHA256("HsmVault-v1 operator append request" || 0x00 || epoch statement bytes)
/// </code>
/// Signatures are IEEE P1363 <c>r || s</c> (64 bytes), as PKCS#11 CKM_ECDSA returns them.
/// </summary>
public sealed class OperatorKey
{
    public const int PublicKeyLength = 65;
    public const int SignatureLength = 64;

    /// <summary>The counter-signature's label.</summary>
    public const string CounterSignatureLabel = "HsmVault-v1 operator counter-signature";

    /// <summary>The append request's label.</summary>
    public const string AppendRequestLabel = "HsmVault-v1 operator append request";

    private readonly byte[] _publicKey;

    private OperatorKey(byte[] publicKey) => _publicKey = publicKey;

    /// <summary>SEC1 uncompressed: 0x04 || X || Y.</summary>
    public byte[] PublicKey => (byte[])_publicKey.Clone();

    /// <summary>A key from its SEC1 bytes; throws <see cref="FormatException"/> unless it is a P-256 point.</summary>
    public static OperatorKey FromPublicKey(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != PublicKeyLength || publicKey[0] != 0x04)
        {
            throw new FormatException($"operator key: must be a SEC1 uncompressed P-256 point (65 bytes starting 04), got {publicKey.Length} bytes");
        }

        try
        {
            using ECDsa ecdsa = Import(publicKey);
        }
        catch (CryptographicException ex)
        {
            throw new FormatException("operator key: not a point on P-256", ex);
        }

        return new OperatorKey(publicKey.ToArray());
    }

    /// <summary>A key from hex (white space around it is ignored).</summary>
    public static OperatorKey Parse(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        byte[] bytes;
        try
        {
            bytes = Convert.FromHexString(hex.Trim());
        }
        catch (FormatException)
        {
            throw new FormatException("operator key: not hex");
        }

        return FromPublicKey(bytes);
    }

    /// <summary>The message a counter-signature signs.</summary>
    public static byte[] CounterSignatureMessage(ReadOnlySpan<byte> witnessSignature) => Labelled(CounterSignatureLabel, witnessSignature);

    /// <summary>The message an append request signs.</summary>
    public static byte[] AppendRequestMessage(EpochStatement statement)
    {
        ArgumentNullException.ThrowIfNull(statement);
        return Labelled(AppendRequestLabel, statement.ToBytes());
    }

    /// <summary>True when <paramref name="counterSignature"/> is this key's counter-signature of <paramref name="witnessSignature"/>.</summary>
    public bool VerifyCounterSignature(ReadOnlySpan<byte> witnessSignature, ReadOnlySpan<byte> counterSignature) =>
        Verify(CounterSignatureMessage(witnessSignature), counterSignature);

    /// <summary>True when <paramref name="signature"/> is this key's append request for <paramref name="statement"/>.</summary>
    public bool VerifyAppendRequest(EpochStatement statement, ReadOnlySpan<byte> signature) =>
        Verify(AppendRequestMessage(statement), signature);

    public override string ToString() => Convert.ToHexStringLower(_publicKey);

    private bool Verify(byte[] message, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != SignatureLength)
        {
            return false;
        }

        using ECDsa ecdsa = Import(_publicKey);
        return ecdsa.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    private static ECDsa Import(ReadOnlySpan<byte> publicKey) => ECDsa.Create(new ECParameters
    {
        Curve = ECCurve.NamedCurves.nistP256,
        Q = new ECPoint { X = publicKey[1..33].ToArray(), Y = publicKey[33..65].ToArray() },
    });

    private static byte[] Labelled(string label, ReadOnlySpan<byte> body) => [.. Encoding.ASCII.GetBytes(label), 0x00, .. body];
}

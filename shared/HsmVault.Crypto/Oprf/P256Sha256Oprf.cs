using System.Buffers.Binary;
using System.Security.Cryptography;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.HashToCurve;

namespace HsmVault.Crypto.Oprf;

/// <summary>
/// The OPRF(P-256, SHA-256) suite of RFC 9497 in base mode (mode 0): Blind, BlindEvaluate,
/// Finalize and DeriveKeyPair. Secret scalars (blinds, keys) are applied with the regular
/// multiplier of <see cref="P256Group"/>.
/// </summary>
public static class P256Sha256Oprf
{
    /// <summary>Bytes of a Finalize output (Nh).</summary>
    public const int OutputLength = 32;

    /// <summary>Bytes of a DeriveKeyPair seed (Ns).</summary>
    public const int SeedLength = 32;

    private const int MaxInputLength = ushort.MaxValue;

    /// <summary>"OPRFV1-" || I2OSP(0, 1) || "-P256-SHA256".</summary>
    public static ReadOnlySpan<byte> ContextString => "OPRFV1-\0-P256-SHA256"u8;

    private static readonly byte[] HashToGroupDst = [.. "HashToGroup-"u8, .. ContextString];
    private static readonly byte[] DeriveKeyPairDst = [.. "DeriveKeyPair"u8, .. ContextString];
    private static readonly byte[] HashToScalarDst = [.. "HashToScalar-"u8, .. ContextString];

    /// <summary>DeriveKeyPair(seed, info) of RFC 9497 §3.2.1.</summary>
    public static OprfKeyPair DeriveKeyPair(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> info)
    {
        var sk = DeriveScalar(seed, info);
        var privateKey = new byte[P256Group.ScalarLength];
        sk.WriteBigEndian(privateKey);
        var publicKey = P256Group.EncodeElement(P256Curve.MultiplyBase(sk), "publicKey");
        return new OprfKeyPair(privateKey, publicKey);
    }

    /// <summary>
    /// Blind(input): draws a random blind from <paramref name="random"/> and returns the blinded
    /// element (33 bytes); the blind (32 bytes) is returned through <paramref name="blind"/>.
    /// </summary>
    public static byte[] Blind(ReadOnlySpan<byte> input, IRandomSource random, out byte[] blind)
    {
        blind = new byte[P256Group.ScalarLength];
        var r = P256Group.RandomScalar(random, blind);
        return BlindWith(input, r);
    }

    /// <summary>BlindEvaluate(skS, blindedElement): the server's evaluation, 33 bytes.</summary>
    public static byte[] BlindEvaluate(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> blindedElement) =>
        BlindEvaluate(P256Group.DecodeScalar(privateKey, nameof(privateKey)), blindedElement);

    /// <summary>Finalize(input, blind, evaluatedElement): the 32-byte PRF output.</summary>
    public static byte[] Finalize(ReadOnlySpan<byte> input, ReadOnlySpan<byte> blind, ReadOnlySpan<byte> evaluatedElement) =>
        Finalize(input, P256Group.DecodeScalar(blind, nameof(blind)), evaluatedElement);

    /// <summary>HashToScalar(input) with the suite's default DST (RFC 9497 §4.3).</summary>
    public static byte[] HashToScalar(ReadOnlySpan<byte> input)
    {
        Span<byte> uniform = stackalloc byte[48];
        ExpandMessageXmd.Expand(input, HashToScalarDst, uniform);
        var result = new byte[P256Group.ScalarLength];
        P256Scalar.ReduceWide(uniform).WriteBigEndian(result);
        return result;
    }

    internal static U256 DeriveScalar(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> info)
    {
        if (seed.Length != SeedLength)
        {
            throw new CryptoFormatException(nameof(seed), $"must be {SeedLength} bytes, got {seed.Length}");
        }

        if (info.Length > MaxInputLength)
        {
            throw new CryptoFormatException(nameof(info), $"must be at most {MaxInputLength} bytes, got {info.Length}");
        }

        // deriveInput || counter, with deriveInput = seed || I2OSP(len(info), 2) || info.
        var deriveInput = new byte[SeedLength + 2 + info.Length + 1];
        seed.CopyTo(deriveInput);
        BinaryPrimitives.WriteUInt16BigEndian(deriveInput.AsSpan(SeedLength), (ushort)info.Length);
        info.CopyTo(deriveInput.AsSpan(SeedLength + 2));
        Span<byte> uniform = stackalloc byte[48];
        try
        {
            for (int counter = 0; counter <= 255; counter++)
            {
                deriveInput[^1] = (byte)counter;
                ExpandMessageXmd.Expand(deriveInput, DeriveKeyPairDst, uniform);
                var sk = P256Scalar.ReduceWide(uniform);

                // Zero has probability 2^-256 per round; the branch reveals only that.
                if (sk.IsZeroMask() == 0)
                {
                    return sk;
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(deriveInput);
            uniform.Clear();
        }

        throw new CryptographicException("DeriveKeyPairError: 256 consecutive zero scalars");
    }

    internal static byte[] BlindWith(ReadOnlySpan<byte> input, in U256 blind)
    {
        CheckInput(input);
        var inputElement = P256HashToCurve.HashToPoint(input, HashToGroupDst);
        if (inputElement.IsIdentityMask() != 0)
        {
            throw new CryptoFormatException(nameof(input), "hashes to the identity element (InvalidInputError)");
        }

        return P256Group.EncodeElement(P256Curve.Multiply(blind, inputElement), "blindedElement");
    }

    internal static byte[] BlindEvaluate(in U256 privateKey, ReadOnlySpan<byte> blindedElement)
    {
        var point = P256Group.DecodeElement(blindedElement, nameof(blindedElement));
        return P256Group.EncodeElement(P256Curve.Multiply(privateKey, point), "evaluatedElement");
    }

    internal static byte[] Finalize(ReadOnlySpan<byte> input, in U256 blind, ReadOnlySpan<byte> evaluatedElement)
    {
        CheckInput(input);
        var evaluated = P256Group.DecodeElement(evaluatedElement, nameof(evaluatedElement));
        var inverse = P256Scalar.Invert(blind);
        var unblinded = P256Group.EncodeElement(P256Curve.Multiply(inverse, evaluated), "unblindedElement");

        // I2OSP(len(input), 2) || input || I2OSP(len(unblinded), 2) || unblinded || "Finalize".
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)input.Length);
        hash.AppendData(length);
        hash.AppendData(input);
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)unblinded.Length);
        hash.AppendData(length);
        hash.AppendData(unblinded);
        hash.AppendData("Finalize"u8);
        var output = hash.GetHashAndReset();
        CryptographicOperations.ZeroMemory(unblinded);
        return output;
    }

    private static void CheckInput(ReadOnlySpan<byte> input)
    {
        if (input.Length > MaxInputLength)
        {
            throw new CryptoFormatException(nameof(input), $"must be at most {MaxInputLength} bytes, got {input.Length}");
        }
    }
}

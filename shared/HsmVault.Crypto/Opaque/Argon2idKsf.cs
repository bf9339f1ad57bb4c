using System.Globalization;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;

namespace HsmVault.Crypto.Opaque;

/// <summary>
/// Argon2id (RFC 9106, version 0x13) with a 16-byte all-zero salt, as RFC 9807 §7 instantiates it.
/// The output length equals the input length (Nh).
/// </summary>
public sealed class Argon2idKsf : IKeyStretchingFunction
{
    private const int SaltLength = 16;

    public Argon2idKsf(int iterations, int parallelism, int memoryKiB)
    {
        if (iterations < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(iterations), iterations, "iterations must be at least 1");
        }

        if (parallelism < 1 || parallelism > 0xFFFFFF)
        {
            throw new ArgumentOutOfRangeException(nameof(parallelism), parallelism, "parallelism must be between 1 and 2^24-1");
        }

        if (memoryKiB < 8 * parallelism)
        {
            throw new ArgumentOutOfRangeException(nameof(memoryKiB), memoryKiB, "memory must be at least 8 KiB per lane");
        }

        Iterations = iterations;
        Parallelism = parallelism;
        MemoryKiB = memoryKiB;
    }

    /// <summary>RFC 9106's first recommended option: t=1, p=4, m=2 GiB.</summary>
    public static Argon2idKsf FirstRecommended { get; } = new(1, 4, 2 * 1024 * 1024);

    /// <summary>RFC 9106's second recommended option, for memory-constrained settings: t=3, p=4, m=64 MiB.</summary>
    public static Argon2idKsf SecondRecommended { get; } = new(3, 4, 64 * 1024);

    public int Iterations { get; }

    public int Parallelism { get; }

    public int MemoryKiB { get; }

    /// <inheritdoc />
    public string Name => string.Create(CultureInfo.InvariantCulture, $"argon2id-t{Iterations}-p{Parallelism}-m{MemoryKiB}");

    /// <inheritdoc />
    public byte[] Stretch(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            throw new CryptoFormatException("ksfInput", "must not be empty");
        }

        var parameters = new Argon2Parameters.Builder(Argon2Parameters.Argon2id)
            .WithVersion(Argon2Parameters.Version13)
            .WithIterations(Iterations)
            .WithParallelism(Parallelism)
            .WithMemoryAsKB(MemoryKiB)
            .WithSalt(new byte[SaltLength])
            .Build();
        var generator = new Argon2BytesGenerator();
        generator.Init(parameters);
        var password = input.ToArray();
        var output = new byte[input.Length];
        try
        {
            generator.GenerateBytes(password, output);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(password);
        }

        return output;
    }
}

using System.Security.Cryptography;

namespace HsmVault.Simulator;

/// <summary>
/// HMAC_DRBG with SHA-256 (NIST SP 800-90A, no reseeding, no prediction resistance): a seeded,
/// fully reproducible random stream for the in-memory HSM. Not for production randomness.
/// </summary>
internal sealed class HmacDrbg
{
    private const int OutputLength = 32;

    private readonly byte[] _key = new byte[OutputLength];
    private readonly byte[] _value = new byte[OutputLength];

    internal HmacDrbg(ReadOnlySpan<byte> seedMaterial)
    {
        _value.AsSpan().Fill(0x01);
        Update(seedMaterial);
    }

    internal void Generate(Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            HMACSHA256.HashData(_key, _value, _value);
            int take = Math.Min(destination.Length, OutputLength);
            _value.AsSpan(0, take).CopyTo(destination);
            destination = destination[take..];
        }

        Update([]);
    }

    private void Update(ReadOnlySpan<byte> providedData)
    {
        Step(0x00, providedData);
        if (!providedData.IsEmpty)
        {
            Step(0x01, providedData);
        }
    }

    private void Step(byte separator, ReadOnlySpan<byte> providedData)
    {
        byte[] input = new byte[OutputLength + 1 + providedData.Length];
        _value.CopyTo(input, 0);
        input[OutputLength] = separator;
        providedData.CopyTo(input.AsSpan(OutputLength + 1));
        HMACSHA256.HashData(_key, input, _key);
        HMACSHA256.HashData(_key, _value, _value);
        CryptographicOperations.ZeroMemory(input);
    }
}

using System.Buffers.Binary;
using System.Security.Cryptography;
using HsmVault.Crypto;

namespace HsmVault.Fuzz.Support;

/// <summary>A reproducible random stream (SHA-256 of seed and counter), so every harness and seed is deterministic.</summary>
public sealed class SeededRandom(ulong seed) : IRandomSource
{
    private ulong _counter;

    public void Fill(Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(input, seed);
        Span<byte> block = stackalloc byte[32];
        while (!destination.IsEmpty)
        {
            BinaryPrimitives.WriteUInt64BigEndian(input[8..], _counter++);
            SHA256.HashData(input, block);
            int n = Math.Min(block.Length, destination.Length);
            block[..n].CopyTo(destination);
            destination = destination[n..];
        }
    }
}

using System.Buffers.Binary;
using System.Security.Cryptography;
using HsmVault.Crypto;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>A reproducible client-side random stream: SHA-256(seed || counter) blocks.</summary>
internal sealed class SeededRandomSource(ulong seed) : IRandomSource
{
    private ulong _counter;

    public void Fill(Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(input, seed);
        while (!destination.IsEmpty)
        {
            BinaryPrimitives.WriteUInt64BigEndian(input[8..], _counter++);
            byte[] block = SHA256.HashData(input);
            int n = Math.Min(block.Length, destination.Length);
            block.AsSpan(0, n).CopyTo(destination);
            destination = destination[n..];
        }
    }
}

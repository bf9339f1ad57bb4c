using System.Diagnostics;
using HsmVault.Enclave;
using HsmVault.Testing;

namespace HsmVault.Benchmarks;

/// <summary>
/// An enclave behind the shared in-memory host, with a stopwatch around the enclave's byte entry
/// point only, so witness building, encoding and applying writes stay out of the timings.
/// </summary>
internal sealed class TimedVault
{
    private readonly VaultEnclave _enclave;

    public TimedVault(IHsmServices hsm)
    {
        _enclave = new VaultEnclave(hsm, VaultPolicy.Default);
        Host = new InMemoryVaultHost(Handle);
    }

    public InMemoryVaultHost Host { get; }

    /// <summary>Time spent inside <see cref="VaultEnclave.Handle(ReadOnlySpan{byte})"/> since the last reset.</summary>
    public TimeSpan EnclaveTime { get; set; }

    private byte[] Handle(byte[] request)
    {
        long start = Stopwatch.GetTimestamp();
        byte[] response = _enclave.Handle(request);
        EnclaveTime += Stopwatch.GetElapsedTime(start);
        return response;
    }
}

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

    /// <summary>
    /// The part of <see cref="EnclaveTime"/> the process's garbage collector paused it. The benchmark
    /// keeps the host's whole store in the same heap; a real enclave runs in the HSM, apart from it.
    /// </summary>
    public TimeSpan GcPauseTime { get; set; }

    private byte[] Handle(byte[] request)
    {
        TimeSpan paused = GC.GetTotalPauseDuration();
        long start = Stopwatch.GetTimestamp();
        byte[] response = _enclave.Handle(request);
        EnclaveTime += Stopwatch.GetElapsedTime(start);
        GcPauseTime += GC.GetTotalPauseDuration() - paused;
        return response;
    }
}

using System.Runtime.InteropServices;

namespace HsmVault.Fuzz;

/// <summary>A trace map for instrumented code that runs before SharpFuzz's Fuzzer.Run attaches afl-fuzz's shared memory.</summary>
internal static class AflScratchMap
{
    private const int MapBytes = 1 << 20;

    public static unsafe void Install()
    {
        if (SharpFuzz.Common.Trace.SharedMem == null)
        {
            SharpFuzz.Common.Trace.SharedMem = (byte*)NativeMemory.AllocZeroed(MapBytes);
        }
    }
}

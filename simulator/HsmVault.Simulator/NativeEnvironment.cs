using System.Runtime.InteropServices;

namespace HsmVault.Simulator;

/// <summary>
/// Sets a variable in the C runtime's environment. .NET's Environment.SetEnvironmentVariable
/// changes only the managed copy on Linux, so a native library that calls getenv (SoftHSM2 reads
/// SOFTHSM2_CONF in C_Initialize) would not see it.
/// </summary>
public static class NativeEnvironment
{
    public static void Set(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value);
        if (!OperatingSystem.IsWindows() && SetEnv(name, value, 1) != 0)
        {
            throw new InvalidOperationException($"setenv({name}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    [DllImport("libc", EntryPoint = "setenv", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int SetEnv(string name, string value, int overwrite);
}

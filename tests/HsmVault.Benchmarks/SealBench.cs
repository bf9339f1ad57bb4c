using System.Diagnostics;
using System.Globalization;
using HsmVault.Simulator;
using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Benchmarks;

/// <summary>
/// Seal and unseal of a record-sized plaintext through SoftHSM2 (a throw-away token), one thread,
/// a Stopwatch around a fixed number of calls after a warm-up: the per-call cost of the record
/// cipher as the enclave pays it over PKCS#11. <c>--quick</c> runs fewer calls.
/// </summary>
internal static class SealBench
{
    private const int PlaintextBytes = 160;

    public static int Run()
    {
        string library = Environment.GetEnvironmentVariable("HSMVAULT_PKCS11_LIBRARY") is { Length: > 0 } custom ? custom : Pkcs11Options.SoftHsm2LibraryPath;
        if (!File.Exists(library))
        {
            Console.Error.WriteLine($"seal: the PKCS#11 module '{library}' does not exist (apt-get install softhsm2)");
            return 1;
        }

        int calls = Environment.GetCommandLineArgs().Contains("--quick") ? 300 : 3000;
        string directory = Directory.CreateTempSubdirectory("hsmvault-sealbench-").FullName;
        try
        {
            Pkcs11Options options = SoftHsmStateDirectory.Prepare(directory, library, "sealbench");
            using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options);
            byte[] plaintext = new byte[PlaintextBytes];
            hsm.GetRandom(plaintext);
            byte[] aad = [.. "HsmVault-v1 record"u8, 0, 0, 0, 0, 0, 0, 0, 1];
            byte[] sealedBytes = [];
            for (int i = 0; i < calls / 10; i++)
            {
                sealedBytes = hsm.Seal(plaintext, aad);
                _ = hsm.TryUnseal(sealedBytes, aad, out _);
            }

            var watch = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++)
            {
                sealedBytes = hsm.Seal(plaintext, aad);
            }

            double sealMicros = watch.Elapsed.TotalMicroseconds / calls;
            watch.Restart();
            int opened = 0;
            for (int i = 0; i < calls; i++)
            {
                opened += hsm.TryUnseal(sealedBytes, aad, out _) ? 1 : 0;
            }

            double unsealMicros = watch.Elapsed.TotalMicroseconds / calls;
            if (opened != calls)
            {
                Console.Error.WriteLine($"seal: {calls - opened} of {calls} unseals failed");
                return 1;
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"seal: softhsm2 seal_us={sealMicros:F1} unseal_us={unsealMicros:F1} (plaintext {PlaintextBytes} bytes, sealed {sealedBytes.Length} bytes, {calls} calls each, one thread)"));
            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // A temp folder left behind is harmless.
            }
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using HsmVault.Enclave;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// Rough single-caller throughput of each <see cref="IHsmServices"/> operation, for sizing NVRAM
/// batching and the enclave's HSM budget. Not a benchmark harness: one warm-up call, then as many
/// calls as fit in the time given.
/// </summary>
internal static class Pkcs11Throughput
{
    /// <summary>Opens (provisioning if needed) the token in <paramref name="options"/> and measures it.</summary>
    internal static string Measure(Pkcs11Options options, TimeSpan perOperation)
    {
        using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options);
        return Measure(hsm, perOperation);
    }

    /// <summary>One line per operation: name, calls, elapsed and operations per second.</summary>
    internal static string Measure(IHsmServices hsm, TimeSpan perOperation)
    {
        byte[] record = new byte[256];
        byte[] associatedData = new byte[32];
        hsm.GetRandom(record);
        byte[] sealedRecord = hsm.Seal(record, associatedData);
        byte[] peer = hsm.IdentityPublicKey;
        byte[] nvram = new byte[128];
        byte[] entry = new byte[64];

        var report = new StringBuilder();
        Run("GetRandom(32)", () => hsm.GetRandom(new byte[32]));
        Run("Seal(256 B)", () => hsm.Seal(record, associatedData));
        Run("TryUnseal(256 B)", () => hsm.TryUnseal(sealedRecord, associatedData, out _));
        Run("Hmac(64 B)", () => hsm.Hmac(HsmHmacKey.LogMac, entry));
        Run("Sign(64 B)", () => hsm.Sign(entry));
        Run("AkeDiffieHellman", () => hsm.AkeDiffieHellman(peer));
        Run("WriteNvram(128 B)", () =>
        {
            nvram[0]++;
            hsm.WriteNvram(nvram);
        });
        return report.ToString();

        void Run(string name, Action operation)
        {
            operation();
            long calls = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < perOperation)
            {
                operation();
                calls++;
            }

            clock.Stop();
            double perSecond = calls / clock.Elapsed.TotalSeconds;
            report.AppendLine(CultureInfo.InvariantCulture, $"{name,-20} {calls,8} calls in {clock.Elapsed.TotalSeconds,6:F2} s  {perSecond,10:F0} ops/s");
        }
    }
}

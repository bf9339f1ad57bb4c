using System.Diagnostics;
using System.Globalization;
using HsmVault.Simulator;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Benchmarks;

/// <summary>
/// Seal and unseal of a record-sized plaintext through SoftHSM2 (a throw-away token), one thread: the
/// services' XAES-256-GCM seal (derive a key by handle, GCM, destroy) against the pre-XAES call it replaced
/// (one C_GenerateRandom and one CKM_AES_GCM C_Encrypt under a fixed AES-256 key), interleaved in rounds
/// on the same token so both see the same machine load. <c>--quick</c> runs fewer calls.
/// </summary>
internal static class SealBench
{
    private const int PlaintextBytes = 160;
    private const int Rounds = 10;

    public static int Run()
    {
        string library = Environment.GetEnvironmentVariable("HSMVAULT_PKCS11_LIBRARY") is { Length: > 0 } custom ? custom : Pkcs11Options.SoftHsm2LibraryPath;
        if (!File.Exists(library))
        {
            Console.Error.WriteLine($"seal: the PKCS#11 module '{library}' does not exist (apt-get install softhsm2)");
            return 1;
        }

        int perRound = Environment.GetCommandLineArgs().Contains("--quick") ? 30 : 300;
        string directory = Directory.CreateTempSubdirectory("hsmvault-sealbench-").FullName;
        try
        {
            Pkcs11Options options = SoftHsmStateDirectory.Prepare(directory, library, "sealbench");
            using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options);
            using var plain = PlainGcm.Open(options);
            byte[] plaintext = new byte[PlaintextBytes];
            hsm.GetRandom(plaintext);
            byte[] aad = [.. "HsmVault-v1 record"u8, 0, 0, 0, 0, 0, 0, 0, 1];

            var xaesSeal = new Stopwatch();
            var xaesUnseal = new Stopwatch();
            var gcmSeal = new Stopwatch();
            var gcmUnseal = new Stopwatch();
            byte[] xaesSealed = hsm.Seal(plaintext, aad);
            byte[] gcmSealed = plain.Seal(plaintext, aad);
            int failures = 0;
            for (int round = -1; round < Rounds; round++)
            {
                // Round -1 warms both paths up and is not counted.
                bool counted = round >= 0;
                Time(counted ? xaesSeal : null, perRound, () => xaesSealed = hsm.Seal(plaintext, aad));
                Time(counted ? gcmSeal : null, perRound, () => gcmSealed = plain.Seal(plaintext, aad));
                Time(counted ? xaesUnseal : null, perRound, () => failures += hsm.TryUnseal(xaesSealed, aad, out _) ? 0 : 1);
                Time(counted ? gcmUnseal : null, perRound, () => failures += plain.TryUnseal(gcmSealed, aad) ? 0 : 1);
            }

            if (failures != 0)
            {
                Console.Error.WriteLine($"seal: {failures} unseals failed");
                return 1;
            }

            int calls = perRound * Rounds;
            double Micros(Stopwatch watch) => watch.Elapsed.TotalMicroseconds / calls;
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(c,
                $"seal-detail: aes256gcm_seal_us={Micros(gcmSeal):F1} aes256gcm_unseal_us={Micros(gcmUnseal):F1} (before: GCM under the record key, sealed {gcmSealed.Length} bytes)"));
            Console.WriteLine(string.Create(c,
                $"seal: softhsm2 xaes_seal_us={Micros(xaesSeal):F1} xaes_unseal_us={Micros(xaesUnseal):F1} seal_cost={Micros(xaesSeal) / Micros(gcmSeal):F2}x unseal_cost={Micros(xaesUnseal) / Micros(gcmUnseal):F2}x (plaintext {PlaintextBytes} bytes, sealed {xaesSealed.Length} bytes, {calls} calls each, interleaved in {Rounds} rounds, one thread)"));
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

    private static void Time(Stopwatch? watch, int calls, Action call)
    {
        watch?.Start();
        for (int i = 0; i < calls; i++)
        {
            call();
        }

        watch?.Stop();
    }

    /// <summary>The seal before XAES-256-GCM: a random 96-bit IV and CKM_AES_GCM under one long-lived AES-256 key.</summary>
    private sealed class PlainGcm : IDisposable
    {
        private readonly Pkcs11Module _module;
        private readonly ISession _session;
        private readonly IObjectHandle _key;

        private PlainGcm(Pkcs11Module module, ISession session, IObjectHandle key)
        {
            _module = module;
            _session = session;
            _key = key;
        }

        internal static PlainGcm Open(Pkcs11Options options)
        {
            Pkcs11Module module = Pkcs11Module.Acquire(options.LibraryPath);
            ISession session = module.FindSlotByTokenLabel(options.TokenLabel).OpenSession(SessionType.ReadWrite);

            // The services' session is logged in already; the login is shared by the process.
            var f = module.Factories.ObjectAttributeFactory;
            using IMechanism generate = module.Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_GEN);
            IObjectHandle key = session.GenerateKey(generate,
            [
                f.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
                f.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
                f.Create(CKA.CKA_VALUE_LEN, 32UL),
                f.Create(CKA.CKA_TOKEN, false),
                f.Create(CKA.CKA_PRIVATE, true),
                f.Create(CKA.CKA_SENSITIVE, true),
                f.Create(CKA.CKA_EXTRACTABLE, false),
                f.Create(CKA.CKA_ENCRYPT, true),
                f.Create(CKA.CKA_DECRYPT, true),
            ]);
            return new PlainGcm(module, session, key);
        }

        internal byte[] Seal(byte[] plaintext, byte[] aad)
        {
            byte[] iv = _session.GenerateRandom(12);
            using var parameters = _module.Factories.MechanismParamsFactory.CreateCkGcmParams(iv, 96, aad, 128);
            using IMechanism gcm = _module.Factories.MechanismFactory.Create(CKM.CKM_AES_GCM, parameters);
            return [.. iv, .. _session.Encrypt(gcm, _key, plaintext)];
        }

        internal bool TryUnseal(byte[] sealedBytes, byte[] aad)
        {
            using var parameters = _module.Factories.MechanismParamsFactory.CreateCkGcmParams(sealedBytes[..12], 96, aad, 128);
            using IMechanism gcm = _module.Factories.MechanismFactory.Create(CKM.CKM_AES_GCM, parameters);
            return _session.Decrypt(gcm, _key, sealedBytes[12..]).Length == sealedBytes.Length - 28;
        }

        public void Dispose()
        {
            _session.Dispose();
            _module.Release();
        }
    }
}

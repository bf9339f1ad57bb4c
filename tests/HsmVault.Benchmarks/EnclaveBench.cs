using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave;
using HsmVault.Protocol;
using HsmVault.Protocol.V1;
using HsmVault.Testing;
using HsmVault.Simulator;
using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Benchmarks;

/// <summary>
/// Selector <c>enclave</c>: full OPAQUE logins (KE1 → KE2 → KE3 → recovered blob) through the
/// enclave over in-memory HSM services and over SoftHSM2, one login per batch and 32 per batch
/// (group commit); then the enclave time of one recovery as the vault grows to 10^3, 10^4 and
/// 10^5 records. Only the enclave call is timed; the client's OPAQUE work is reported separately.
/// <c>--quick</c> makes every phase smaller; <c>--million</c> grows the vault on to 10^6 records
/// (about 10 more minutes and a few GB of memory).
/// </summary>
public static class EnclaveBench
{
    private static readonly OpaqueConfiguration Client = OpaqueConfiguration.ForTesting("HsmVault-v1"u8);

    /// <summary>Entry for the selector table; reads <c>--quick</c> from the process command line.</summary>
    public static int Run() => Run(Environment.GetCommandLineArgs());

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick", StringComparer.Ordinal);
        int logins = quick ? 64 : 256;
        // Warm-up (JIT, BouncyCastle tables) on a throw-away vault, not printed.
        WarmUp();
        Console.WriteLine($"enclave benchmark ({(quick ? "quick" : "full")}): {logins} logins per row; times are enclave-only (Handle), client OPAQUE work reported apart");
        Console.WriteLine();
        Console.WriteLine(TableHeader);

        var rates = new List<(string Name, int Batch, double Rate)>();
        var inMemory = new TimedVault(new InMemoryHsmServices(1));
        foreach (int batch in new[] { 1, 32 })
        {
            rates.Add(LoginRow("in-memory", inMemory, batch, logins));
        }

        rates.AddRange(SoftHsmRows(logins));

        Console.WriteLine();
        bool million = args.Contains("--million", StringComparer.Ordinal);
        int[] sizes = quick ? [1_000, 10_000] : million ? [1_000, 10_000, 100_000, 1_000_000] : [1_000, 10_000, 100_000];
        List<(int Records, double Ms, double Siblings, double ProofBytes)> growth = RecoveryGrowth(sizes, quick ? 20 : 50);

        (string _, int _, double inMemory32) = rates.Single(r => r.Name == "in-memory" && r.Batch == 32);
        (string _, int _, double softHsm1) = rates.Single(r => r.Name == "SoftHSM2" && r.Batch == 1);
        (string _, int _, double softHsm32) = rates.Single(r => r.Name == "SoftHSM2" && r.Batch == 32);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"enclave summary: {softHsm1:F0} logins/s on SoftHSM2 unbatched, {softHsm32:F0} batched x32, {inMemory32:F0} in-memory x32; " +
            $"recovery {growth[0].Ms:F2} ms at {growth[0].Records} records -> {growth[^1].Ms:F2} ms at {growth[^1].Records} ({growth[^1].ProofBytes:F0} B proof)"));
        return 0;
    }

    /// <summary>
    /// Enclave-only login rates over a fresh SoftHSM2 token in a temporary directory, one login per
    /// batch and 32 per batch; prints a table row each (the caller prints the header).
    /// </summary>
    internal static IReadOnlyList<(string Name, int Batch, double Rate)> SoftHsmRows(int logins)
    {
        var rates = new List<(string Name, int Batch, double Rate)>();
        string tokenDirectory = Directory.CreateTempSubdirectory("hsmvault-bench-softhsm-").FullName;
        try
        {
            Pkcs11Options options = SoftHsmStateDirectory.Prepare(tokenDirectory, Pkcs11Options.SoftHsm2LibraryPath, $"bench-{Environment.ProcessId}");
            using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options);
            var softHsm = new TimedVault(hsm);
            foreach (int batch in new[] { 1, 32 })
            {
                rates.Add(LoginRow("SoftHSM2", softHsm, batch, logins));
            }
        }
        finally
        {
            Directory.Delete(tokenDirectory, recursive: true);
        }

        return rates;
    }

    /// <summary>Logins through a throw-away in-memory enclave so JIT and table set-up are out of later timings.</summary>
    internal static void WarmUp()
    {
        // Enough calls, in both batch shapes, for tiered compilation to reach its optimised code.
        var vault = new TimedVault(new InMemoryHsmServices(9));
        LoginRow("warm-up", vault, 1, 96, print: false);
        LoginRow("warm-up", vault, 32, 96, print: false);
    }

    /// <summary>The markdown header matching the rows <see cref="SoftHsmRows"/> prints.</summary>
    internal const string TableHeader = "| HSM services | batch | logins | enclave ms/login | logins/s (enclave) | client ms/login |\n|---|---:|---:|---:|---:|---:|";

    private static (string, int, double) LoginRow(string name, TimedVault vault, int batchSize, int logins, bool print = true)
    {
        var client = new OpaqueClient(Client, SystemRandomSource.Instance);
        BenchUser[] users = RegisterUsers(vault, client, batchSize, $"{name}-{batchSize}-");

        vault.EnclaveTime = TimeSpan.Zero;
        TimeSpan clientTime = TimeSpan.Zero;
        int done = 0;
        while (done < logins)
        {
            var states = new ClientLoginState[users.Length];
            var starts = new UserRequest[users.Length];
            long c0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < users.Length; i++)
            {
                starts[i] = new UserRequest(users[i].Id, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(client.GenerateKE1(users[i].Password, out states[i])) } });
            }

            clientTime += Stopwatch.GetElapsedTime(c0);
            IReadOnlyList<VaultResponse> ke2s = vault.Host.SendBatch(starts);

            var finishes = new UserRequest[users.Length];
            var sessionKeys = new byte[users.Length][];
            c0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < users.Length; i++)
            {
                LoginResult result = client.GenerateKE3(states[i], ke2s[i].LoginStarted.Ke2.Span, vault.Host.AkePublicKey, users[i].Id.Span);
                sessionKeys[i] = result.SessionKey;
                finishes[i] = new UserRequest(users[i].Id, new VaultRequest { LoginFinish = new LoginFinish { LoginSession = ke2s[i].LoginStarted.LoginSession, Ke3 = ByteString.CopyFrom(result.KE3), Action = LoginAction.Recover },
                });
            }

            clientTime += Stopwatch.GetElapsedTime(c0);
            IReadOnlyList<VaultResponse> recovered = vault.Host.SendBatch(finishes);
            for (int i = 0; i < users.Length; i++)
            {
                if (recovered[i].ResultCase != VaultResponse.ResultOneofCase.Recovered
                    || !RecoveredBlobCipher.TryOpen(sessionKeys[i], users[i].Id.Span, recovered[i].Recovered.SealedKeyBlob.Span, out _))
                {
                    throw new InvalidOperationException($"login of {users[i].Id.ToStringUtf8()} did not recover: {recovered[i]}");
                }
            }

            done += users.Length;
        }

        double enclaveMs = vault.EnclaveTime.TotalMilliseconds / done;
        double rate = done / vault.EnclaveTime.TotalSeconds;
        if (print)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {batchSize} | {done} | {enclaveMs:F3} | {rate:F0} | {clientTime.TotalMilliseconds / done:F3} |"));
        }

        return (name, batchSize, rate);
    }

    private const int ProbePasses = 3;

    private static List<(int, double, double, double)> RecoveryGrowth(int[] sizes, int samples)
    {
        Console.WriteLine($"Recovery vs records (in-memory HSM services; one recovery per batch, LoginStart + LoginFinish enclave time, lowest median of {ProbePasses} passes over {samples} probe users)");
        Console.WriteLine();
        Console.WriteLine("| records | log2(records) | enclave ms/recovery | of which GC pause ms | proof siblings | proof bytes | fill s |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        var vault = new TimedVault(new InMemoryHsmServices(2));
        var client = new OpaqueClient(Client, SystemRandomSource.Instance);
        BenchUser[] probes = RegisterUsers(vault, client, samples, "probe-");
        Filler filler = Filler.Create(vault, client);
        int records = probes.Length;
        var rows = new List<(int, double, double, double)>();
        foreach (int size in sizes)
        {
            long f0 = Stopwatch.GetTimestamp();
            records = filler.FillTo(size, records);
            double fillSeconds = Stopwatch.GetElapsedTime(f0).TotalSeconds;

            // Filling leaves a large heap behind; settle it first so a background collection of
            // the filler's garbage does not land inside the probes' timings.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();

            // Three passes over the probes; the lowest of their medians is reported, because a
            // shared VM's noise only ever adds time (a single pass's median moved by up to 40%).
            double median = double.MaxValue, medianPause = 0;
            double siblings = 0, proofBytes = 0;
            for (int pass = 0; pass < ProbePasses; pass++)
            {
                var times = new List<(double Total, double Pause)>();
                siblings = 0;
                proofBytes = 0;
                foreach (BenchUser probe in probes)
                {
                    UserRequest start = new(probe.Id, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(client.GenerateKE1(probe.Password, out ClientLoginState state)) } });
                    vault.EnclaveTime = TimeSpan.Zero;
                    vault.GcPauseTime = TimeSpan.Zero;
                    VaultResponse ke2 = vault.Host.SendBatch([start])[0];
                    siblings += vault.Host.LastProofSiblings / (double)probes.Length;
                    proofBytes += vault.Host.LastProofBytes / (double)probes.Length;
                    LoginResult result = client.GenerateKE3(state, ke2.LoginStarted.Ke2.Span, vault.Host.AkePublicKey, probe.Id.Span);
                    VaultResponse done = vault.Host.SendBatch(
                        [new UserRequest(probe.Id, new VaultRequest { LoginFinish = new LoginFinish { LoginSession = ke2.LoginStarted.LoginSession, Ke3 = ByteString.CopyFrom(result.KE3), Action = LoginAction.Recover } })])[0];
                    if (done.ResultCase != VaultResponse.ResultOneofCase.Recovered)
                    {
                        throw new InvalidOperationException($"probe recovery failed: {done}");
                    }

                    times.Add((vault.EnclaveTime.TotalMilliseconds, vault.GcPauseTime.TotalMilliseconds));
                }

                times.Sort();
                if (times[times.Count / 2].Total < median)
                {
                    (median, medianPause) = times[times.Count / 2];
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {records} | {Math.Log2(records):F1} | {median:F3} | {medianPause:F3} | {siblings:F1} | {proofBytes:F0} | {fillSeconds:F1} |"));
            rows.Add((records, median, siblings, proofBytes));
        }

        return rows;
    }

    private static BenchUser[] RegisterUsers(TimedVault vault, OpaqueClient client, int count, string prefix)
    {
        var users = new BenchUser[count];
        var states = new ClientRegistrationState[count];
        var starts = new UserRequest[count];
        for (int i = 0; i < count; i++)
        {
            users[i] = new BenchUser(ByteString.CopyFromUtf8(prefix + i.ToString(CultureInfo.InvariantCulture)), System.Text.Encoding.UTF8.GetBytes($"password {i}"));
            starts[i] = new UserRequest(users[i].Id, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(client.CreateRegistrationRequest(users[i].Password, out states[i])) } });
        }

        foreach (int offset in Enumerable.Range(0, (count + 63) / 64).Select(b => b * 64))
        {
            int n = Math.Min(64, count - offset);
            IReadOnlyList<VaultResponse> started = vault.Host.SendBatch(starts[offset..(offset + n)]);
            var finishes = new UserRequest[n];
            for (int i = 0; i < n; i++)
            {
                BenchUser user = users[offset + i];
                RegistrationResult result = client.FinalizeRegistration(states[offset + i], started[i].RegisterStarted.RegistrationResponse.Span, vault.Host.AkePublicKey, user.Id.Span);
                finishes[i] = new UserRequest(user.Id, new VaultRequest { RegisterFinish = new RegisterFinish { RegistrationSession = started[i].RegisterStarted.RegistrationSession, RegistrationRecord = ByteString.CopyFrom(result.Record), EncryptedKeyBlob = ByteString.CopyFrom(new byte[61]) },
                });
            }

            foreach (VaultResponse response in vault.Host.SendBatch(finishes))
            {
                if (response.ResultCase != VaultResponse.ResultOneofCase.Registered)
                {
                    throw new InvalidOperationException($"registration failed: {response}");
                }
            }
        }

        return users;
    }

    private sealed record BenchUser(ByteString Id, byte[] Password);

    /// <summary>
    /// Registers filler users through the enclave in batches of 64. They reuse one client
    /// registration request and one record (the enclave checks their form, not who made them),
    /// so filling costs enclave work only: RegisterStart's OPRF evaluation and RegisterFinish's seal.
    /// </summary>
    private sealed class Filler(TimedVault vault, byte[] request, byte[] record)
    {
        public static Filler Create(TimedVault vault, OpaqueClient client)
        {
            byte[] request = client.CreateRegistrationRequest("filler"u8, out ClientRegistrationState state);
            ByteString id = ByteString.CopyFromUtf8("filler-template");
            VaultResponse started = vault.Host.SendBatch([new UserRequest(id, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(request) } })])[0];
            RegistrationResult result = client.FinalizeRegistration(state, started.RegisterStarted.RegistrationResponse.Span, vault.Host.AkePublicKey, id.Span);
            return new Filler(vault, request, result.Record);
        }

        public int FillTo(int target, int current)
        {
            while (current < target)
            {
                int n = Math.Min(64, target - current);
                var starts = new UserRequest[n];
                for (int i = 0; i < n; i++)
                {
                    starts[i] = new UserRequest(ByteString.CopyFromUtf8($"filler-{current + i}"), new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(request) } });
                }

                IReadOnlyList<VaultResponse> started = vault.Host.SendBatch(starts);
                var finishes = new UserRequest[n];
                for (int i = 0; i < n; i++)
                {
                    finishes[i] = new UserRequest(starts[i].UserId, new VaultRequest { RegisterFinish = new RegisterFinish { RegistrationSession = started[i].RegisterStarted.RegistrationSession, RegistrationRecord = ByteString.CopyFrom(record), EncryptedKeyBlob = ByteString.CopyFrom(new byte[61]) },
                    });
                }

                IReadOnlyList<VaultResponse> finished = vault.Host.SendBatch(finishes);
                if (finished.Any(f => f.ResultCase != VaultResponse.ResultOneofCase.Registered))
                {
                    throw new InvalidOperationException($"filler registration failed: {finished.First(f => f.ResultCase != VaultResponse.ResultOneofCase.Registered)}");
                }

                current += n;
                if (target >= 200_000 && current / 50_000 != (current - n) / 50_000)
                {
                    // Long fills (10^6 takes minutes) say how far they are, on stderr so the tables stay clean.
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"filling: {current:N0} of {target:N0} records"));
                }
            }

            return current;
        }
    }
}

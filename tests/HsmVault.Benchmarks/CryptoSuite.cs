using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace HsmVault.Benchmarks;

/// <summary>Runs <see cref="CryptoBenchmarks"/> with a short in-process job and prints the summary lines.</summary>
internal static class CryptoSuite
{
    public static int Run()
    {
        var job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(5)
            .WithIterationCount(10)
            .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(300));
        var config = DefaultConfig.Instance
            .AddJob(job)
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        var summary = BenchmarkRunner.Run<CryptoBenchmarks>(config);

        double PerSecond(string method)
        {
            var report = summary.Reports.FirstOrDefault(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method);
            var mean = report?.ResultStatistics?.Median;
            return mean is > 0 ? 1e9 / mean.Value : double.NaN;
        }

        var ke2 = PerSecond(nameof(CryptoBenchmarks.ServerKe2));
        var ke3 = PerSecond(nameof(CryptoBenchmarks.ServerFinish));
        var ke2Channel = PerSecond(nameof(CryptoBenchmarks.ServerKe2WithChannel));
        var registration = PerSecond(nameof(CryptoBenchmarks.ClientRegistration));
        var login = PerSecond(nameof(CryptoBenchmarks.ClientLogin));
        var ecdh = PerSecond(nameof(CryptoBenchmarks.OpenSslEcdh));
        var regular = PerSecond(nameof(CryptoBenchmarks.RegularMultiply));
        var regularBase = PerSecond(nameof(CryptoBenchmarks.RegularMultiplyGenerator));
        var bouncy = PerSecond(nameof(CryptoBenchmarks.BouncyCastleMultiply));
        if (double.IsNaN(ke2) || double.IsNaN(ecdh))
        {
            Console.Error.WriteLine("crypto: a benchmark failed; see the BenchmarkDotNet log above");
            return 1;
        }

        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"crypto-detail: regular_kP_per_s={regular:F0} regular_kG_per_s={regularBase:F0} bouncycastle_kP_per_s={bouncy:F0}"));
        Console.WriteLine(string.Create(c, $"crypto-detail: ke3_per_s={ke3:F0} (server finish)"));
        Console.WriteLine(string.Create(c, $"crypto-detail: registration_per_s={registration:F0} (client request+finalize with server response, identity KSF)"));
        Console.WriteLine(string.Create(c, $"crypto-detail: login_per_s={login:F0} (client KE1+KE3 with server KE2, identity KSF)"));
        Console.WriteLine(string.Create(c, $"crypto-detail: ke2_channel_per_s={ke2Channel:F0} (open the sealed KE1: one DH; KE2; seal the answer) ratio={ke2Channel * 6 / ecdh:F2} (six multiplications against the ECDH reference) channel_cost={ke2 / ke2Channel:F2}x"));
        Console.WriteLine(string.Create(c, $"crypto: ke2_per_s={ke2:F0} ecdh_per_s={ecdh:F0} ratio={ke2 * 5 / ecdh:F2}"));
        return 0;
    }
}

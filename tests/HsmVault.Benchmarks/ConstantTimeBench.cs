using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using HsmVault.Crypto;
using HsmVault.Crypto.Ec;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Math;
using BcPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace HsmVault.Benchmarks;

/// <summary>
/// A dudect-style constant-time test (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant
/// time?", 2017) of the regular P-256 multiplication k * P (P256Curve.Multiply, used for every
/// secret-scalar product: OPRF evaluation, the AKE and the channel's Diffie-Hellman in software).
/// Two classes of secret scalar, a fixed one and fresh uniform ones, are measured interleaved in a
/// seeded random order on the same point; Welch's t statistic compares the two timing
/// distributions, on all measurements and on the measurements below several percentiles (cropping
/// away interrupts and other one-sided noise, as dudect does). |t| above 4.5 is evidence of a
/// leak; dudect calls |t| above 10 a definite one. BouncyCastle's default (windowed, variable-time)
/// multiplier runs the same test as a positive control: the test must see its leak.
/// Options: --quick (fewer measurements).
/// </summary>
internal static class ConstantTimeBench
{
    private const double Threshold = 10;
    private static readonly double[] Percentiles = [1.0, 0.999, 0.99, 0.95, 0.90, 0.75, 0.50];

    public static int Run()
    {
        bool quick = Environment.GetCommandLineArgs().Contains("--quick");
        int measurements = quick ? 20_000 : 200_000;
        int controlMeasurements = quick ? 5_000 : 40_000;
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"ct: dudect-style test, {measurements:N0} measurements per fixed scalar (interleaved with random scalars), percentile crops {string.Join('/', Percentiles.Select(p => (p * 100).ToString("0.#", c)))}"));

        ProjectivePoint p = P256Curve.MultiplyBase(new U256(7, 0, 0, 0));
        var fixedScalars = new (string Name, U256 Value)[]
        {
            ("k=1", new U256(1, 0, 0, 0)),
            ("k=n-1", Minus1()),
            ("k=hash", FromHash("HsmVault dudect fixed scalar")),
        };

        double worst = 0;
        foreach ((string name, U256 value) in fixedScalars)
        {
            TTest result = Measure(measurements, seed: 1, value, (in U256 k) => P256Curve.Multiply(k, p).X.L0);
            worst = Math.Max(worst, result.MaxAbsT);
            Console.WriteLine(string.Create(c, $"ct: regular kP {name,-7} vs random: {result}"));
        }

        // The positive control: BouncyCastle's default multiplier, whose time depends on the scalar.
        X9ECParameters curve = ECNamedCurveTable.GetByName("P-256");
        BcPoint bcPoint = curve.G.Multiply(BigInteger.ValueOf(7)).Normalize();
        // Its fixed scalar 2^255 + 1 has the full length of a random one but two set bits (two wNAF digits).
        TTest control = Measure(controlMeasurements, seed: 2, new U256(1, 0, 0, 1UL << 63), (in U256 k) =>
        {
            Span<byte> bytes = stackalloc byte[32];
            k.WriteBigEndian(bytes);
            return (ulong)bcPoint.Multiply(new BigInteger(1, bytes.ToArray())).Normalize().AffineXCoord.ToBigInteger().IntValue;
        });
        Console.WriteLine(string.Create(c, $"ct: control bouncycastle kP k=2^255+1 vs random: {control}"));

        bool leak = worst > Threshold;
        bool controlSeen = control.MaxAbsT > Threshold;
        Console.WriteLine(string.Create(c, $"ct: max_abs_t={worst:F2} (regular kP; threshold {Threshold:F0}) control_max_abs_t={control.MaxAbsT:F2} verdict={(leak ? "LEAK" : "no leak detected")}{(controlSeen ? "" : " (the control's leak was not seen either: the measurements are too noisy to conclude)")}"));
        return leak ? 1 : 0;
    }

    private delegate ulong Operation(in U256 scalar);

    // Interleaved measurements: class 0 the fixed scalar, class 1 a fresh uniform scalar, in an order
    // drawn beforehand; the inputs are made before the clock starts, so only the product is timed.
    private static TTest Measure(int count, ulong seed, U256 fixedScalar, Operation operation)
    {
        var random = new SeededRandom(seed);
        var classes = new byte[count];
        var scalars = new U256[count];
        Span<byte> scratch = stackalloc byte[32];
        random.Fill(classes);
        for (int i = 0; i < count; i++)
        {
            classes[i] &= 1;
            scalars[i] = classes[i] == 0 ? fixedScalar : P256Group.RandomScalar(random, scratch);
        }

        // Warm up until the JIT has tiered the code up; the first measurements would be of the JIT.
        ulong sink = 0;
        for (int i = 0; i < Math.Min(count, 3000); i++)
        {
            sink ^= operation(scalars[i]);
        }

        var times = new long[count];
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            sink ^= operation(scalars[i]);
            times[i] = Stopwatch.GetTimestamp() - start;
        }

        GC.KeepAlive(sink);
        return TTest.From(times, classes, Percentiles);
    }

    private static U256 Minus1()
    {
        U256 n = P256Scalar.Order;
        return new U256(n.L0 - 1, n.L1, n.L2, n.L3);
    }

    private static U256 FromHash(string label)
    {
        byte[] hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(label));
        hash[0] &= 0x7F;
        return U256.FromBigEndian(hash);
    }

    /// <summary>Welch's t over all measurements and over each percentile crop of the pooled times.</summary>
    private sealed record TTest(int Count, double FixedMeanNs, double RandomMeanNs, double FullT, double MaxAbsT, double MaxAtPercentile)
    {
        public static TTest From(long[] times, byte[] classes, double[] percentiles)
        {
            long[] sorted = [.. times];
            Array.Sort(sorted);
            double tickNs = 1e9 / Stopwatch.Frequency;
            double full = 0;
            double maxAbs = 0;
            double atPercentile = 1;
            foreach (double percentile in percentiles)
            {
                long cut = sorted[Math.Min(sorted.Length - 1, (int)(percentile * (sorted.Length - 1)))];
                var a = new Welford();
                var b = new Welford();
                for (int i = 0; i < times.Length; i++)
                {
                    if (times[i] <= cut)
                    {
                        (classes[i] == 0 ? a : b).Add(times[i]);
                    }
                }

                double t = Welford.T(a, b);
                if (percentile == 1.0)
                {
                    full = t;
                }

                if (Math.Abs(t) > maxAbs)
                {
                    maxAbs = Math.Abs(t);
                    atPercentile = percentile;
                }
            }

            var fixedAll = new Welford();
            var randomAll = new Welford();
            for (int i = 0; i < times.Length; i++)
            {
                (classes[i] == 0 ? fixedAll : randomAll).Add(times[i]);
            }

            return new TTest(times.Length, fixedAll.Mean * tickNs, randomAll.Mean * tickNs, full, maxAbs, atPercentile);
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"n={Count} mean_fixed={FixedMeanNs / 1000:F1}us mean_random={RandomMeanNs / 1000:F1}us t={FullT:F2} max_abs_t={MaxAbsT:F2} (at the {MaxAtPercentile * 100:0.#}th percentile crop)");
    }

    /// <summary>Running mean and variance (Welford), as dudect keeps them.</summary>
    private sealed class Welford
    {
        private double _m2;

        public long N { get; private set; }

        public double Mean { get; private set; }

        public double Variance => N > 1 ? _m2 / (N - 1) : 0;

        public void Add(double x)
        {
            N++;
            double delta = x - Mean;
            Mean += delta / N;
            _m2 += delta * (x - Mean);
        }

        public static double T(Welford a, Welford b)
        {
            double se = Math.Sqrt((a.Variance / a.N) + (b.Variance / b.N));
            return se > 0 ? (a.Mean - b.Mean) / se : 0;
        }
    }

    private sealed class SeededRandom(ulong seed) : IRandomSource
    {
        private ulong _counter;

        public void Fill(Span<byte> destination)
        {
            Span<byte> block = stackalloc byte[32];
            Span<byte> input = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(input, seed);
            while (!destination.IsEmpty)
            {
                BinaryPrimitives.WriteUInt64BigEndian(input[8..], _counter++);
                SHA256.HashData(input, block);
                int n = Math.Min(32, destination.Length);
                block[..n].CopyTo(destination);
                destination = destination[n..];
            }
        }
    }
}

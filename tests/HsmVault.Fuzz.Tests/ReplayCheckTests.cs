namespace HsmVault.Fuzz.Tests;

/// <summary>The replay check itself fails on what it must catch: an untyped exception, a hang, too much time or memory.</summary>
[TestClass]
public sealed class ReplayCheckTests
{
    [TestMethod]
    public void A_typed_answer_within_the_limits_passes()
    {
        ReplayResult result = FuzzReplay.Run(new Synthetic(_ => "ok"), [1], "good");
        Assert.IsFalse(result.Failed, result.ToString());
        Assert.AreEqual("ok", result.Label);
    }

    [TestMethod]
    public void An_untyped_exception_fails()
    {
        ReplayResult result = FuzzReplay.Run(new Synthetic(input => input[5].ToString()), [1], "index");
        Assert.IsTrue(result.Failed);
        Assert.IsInstanceOfType<IndexOutOfRangeException>(result.Error);
    }

    [TestMethod]
    public void A_broken_invariant_fails()
    {
        ReplayResult result = FuzzReplay.Run(new Synthetic(_ => throw new FuzzFindingException("a forged proof was believed")), [1], "invariant");
        Assert.IsTrue(result.Failed);
        Assert.IsInstanceOfType<FuzzFindingException>(result.Error);
    }

    [TestMethod]
    public void An_input_that_never_ends_fails_as_a_hang()
    {
        var target = new Synthetic(_ =>
        {
            while (true)
            {
                Thread.Sleep(20);
            }
        }) { Limit = TimeSpan.FromMilliseconds(50) };
        ReplayResult result = FuzzReplay.Run(target, [1], "hang");
        Assert.IsTrue(result.Hung && result.Failed, result.ToString());
    }

    [TestMethod]
    public void An_input_slower_than_the_limit_fails()
    {
        var target = new Synthetic(_ =>
        {
            Thread.Sleep(300);
            return "slow";
        }) { Limit = TimeSpan.FromMilliseconds(100) };
        ReplayResult result = FuzzReplay.Run(target, [1], "slow");
        Assert.IsTrue(result.OverTime && result.Failed, result.ToString());
    }

    [TestMethod]
    public void An_input_that_allocates_above_the_limit_fails()
    {
        var target = new Synthetic(_ => new byte[8 << 20].Length.ToString()) { Allocation = 1 << 20 };
        ReplayResult result = FuzzReplay.Run(target, [1], "greedy");
        Assert.IsTrue(result.OverAllocation && result.Failed, result.ToString());
        Assert.IsGreaterThanOrEqualTo(8L << 20, result.AllocatedBytes);
    }

    private sealed class Synthetic(Func<byte[], string> run) : FuzzTarget
    {
        public TimeSpan Limit { get; init; } = TimeSpan.FromSeconds(2);

        public long Allocation { get; init; } = 16L << 20;

        public override string Name => "synthetic";

        public override string Feeds => "a test of the replay check";

        public override TimeSpan TimeLimit => Limit;

        public override long AllocationLimitBytes => Allocation;

        public override string Run(ReadOnlySpan<byte> input) => run(input.ToArray());

        public override IEnumerable<(string Name, byte[] Data)> Seeds() => [];
    }
}

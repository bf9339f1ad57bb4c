using System.Diagnostics;
using System.Globalization;

namespace HsmVault.Enclave.Tests.Fleet;

/// <summary>
/// The fleet simulation, bounded for CI: a fixed set of seeds, each a few hundred adversarial steps.
/// <c>build.ps1 simulate --seeds N --steps M</c> runs more through the environment variables
/// HSMVAULT_SIM_SEEDS, HSMVAULT_SIM_FIRST_SEED and HSMVAULT_SIM_STEPS.
/// </summary>
[TestClass]
public sealed class FleetSimulationTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(5)]
    [DataRow(3)]
    public void Every_property_holds_over_the_bounded_seeds(int members)
    {
        int seeds = Setting("HSMVAULT_SIM_SEEDS", 12);
        int first = Setting("HSMVAULT_SIM_FIRST_SEED", 1);
        int steps = Setting("HSMVAULT_SIM_STEPS", 150);
        var clock = Stopwatch.StartNew();
        long totalSteps = 0, commits = 0, answers = 0;
        for (int seed = first; seed < first + seeds; seed++)
        {
            var simulation = new FleetSimulation(seed, members);
            simulation.Run(steps);
            totalSteps += simulation.Steps;
            commits += simulation.Commits;
            answers += simulation.ClientAnswers;
        }

        double perSecond = totalSteps / clock.Elapsed.TotalSeconds;
        TestContext.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"simulate: members={members} seeds={first}..{first + seeds - 1} steps={totalSteps} commits={commits} client_answers={answers} steps_per_s={perSecond:F0}"));
        Assert.IsGreaterThan(0L, commits, "the simulation committed nothing: it checked nothing");
        Assert.IsGreaterThan(0L, answers, "no client answer was released: it checked nothing");
    }

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0 ? value : fallback;
}

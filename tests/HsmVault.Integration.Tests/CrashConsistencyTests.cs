using HsmVault.Testing;

namespace HsmVault.Integration.Tests;

/// <summary>
/// The bounded CI version of <c>build.ps1 crash</c>: a five-member process fleet under SIGKILLs from
/// outside and at the hosts' crash points. The seed is fixed here so a failure replays; the long run
/// draws a new one each time and prints it.
/// </summary>
[TestClass]
public sealed class CrashConsistencyTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [Timeout(420_000, CooperativeCancellation = true)]
    public async Task Every_acknowledged_registration_and_counted_guess_survives_kills_and_crash_points_on_sqlite()
    {
        var log = new StringWriter();
        CrashRun.Report report = await CrashRun.RunAsync(new CrashRun.Options(Rounds: 2, Seed: 20261201, OperationsPerRound: 30, KillProbability: 0.08, CrashPointProbability: 0.01, Log: log));
        TestContext.WriteLine(log.ToString());
        TestContext.WriteLine(report.Summary);

        Assert.AreEqual(0, report.Violations.Count, string.Join('\n', report.Violations) + "\n" + log);
        Assert.IsTrue(report.HostKills + report.SimulatorKills + report.SelfCrashes >= 2, "the run must actually kill something: " + report.Summary);
        Assert.IsTrue(report.Users >= 3 && report.Acknowledged >= 15, "too little got through to prove anything: " + report.Summary);
    }
}

using HsmVault.Testing;

namespace HsmVault.Integration.Tests;

/// <summary>
/// Brute force under load (<see cref="BruteForceRun"/>): a fleet of five real processes on SoftHSM2
/// tokens and one SQLite store; 20 users; 16 concurrent guessers sending random wrong passwords
/// for all of them at once, half the users given fewer guesses than the limit and half more.
/// Afterwards every user's status must match exactly what the clients were told, no record may
/// have taken more guesses than the limit, and every record that reached it must be gone and refuse
/// the right password. No faults are injected, so no answer may be lost (0 ambiguous).
/// </summary>
[TestClass]
public sealed class BruteForceUnderLoadTests
{
    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task Sixteen_guessers_on_twenty_users_at_once_are_counted_exactly_and_stop_at_the_limit()
    {
        await using ProcessFleet fleet = await ProcessFleet.StartAsync(5);
        BruteForceRun.Report report = await BruteForceRun.RunAsync(fleet, new BruteForceRun.Options(Users: 20, Guessers: 16, Seed: 20261201, TimeLimit: TimeSpan.FromMinutes(3)));

        Console.WriteLine(report.Summary);
        string detail = report.Summary + "\n" + string.Join('\n', report.Violations) + "\n" + await fleet.DescribeAsync();
        Assert.AreEqual(0, report.Violations.Count, detail);
        Assert.AreEqual(0, report.Ambiguous, "no fault was injected, yet answers were lost: " + detail);
        Assert.AreEqual(20, report.Users.Count, detail);

        // Even users had fewer guesses than the limit: each one counted, none lost, none extra.
        foreach (BruteForceRun.UserTally user in report.Users.Where(u => u.Budget < report.AttemptLimit))
        {
            Assert.IsFalse(user.Destroyed, $"{user}: destroyed below the limit");
            Assert.AreEqual(user.Budget, user.Counted, $"{user}: the vault's count differs from the guesses sent");
            Assert.AreEqual(user.Counted, user.Acknowledged, $"{user}: the vault's count differs from the guesses acknowledged");
        }

        // Odd users had more: every one of them reached the limit and is gone.
        foreach (BruteForceRun.UserTally user in report.Users.Where(u => u.Budget > report.AttemptLimit))
        {
            Assert.IsTrue(user.Destroyed, $"{user}: more guesses than the limit, and the record lives");
            Assert.IsTrue(user.Acknowledged <= report.AttemptLimit - 1, $"{user}: more acknowledged guesses with attempts left than the limit allows");
        }

        Assert.AreEqual(10, report.Destroyed, detail);
    }
}

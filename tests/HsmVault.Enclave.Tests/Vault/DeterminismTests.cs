namespace HsmVault.Enclave.Tests.Vault;

[TestClass]
public sealed class DeterminismTests
{
    [TestMethod]
    public void The_same_seed_and_requests_give_byte_identical_responses_over_thousands_of_operations()
    {
        var first = new VaultSimulation(seed: 7, users: 25, attemptLimit: 3);
        var second = new VaultSimulation(seed: 7, users: 25, attemptLimit: 3);
        first.Run(rounds: 300);
        second.Run(rounds: 300);

        Console.WriteLine($"{first.Operations} operations per run");
        Assert.IsTrue(first.Operations >= 2000, $"{first.Operations} operations");
        CollectionAssert.AreEqual(first.TranscriptDigest(), second.TranscriptDigest());
    }

    [TestMethod]
    public void A_different_seed_gives_different_responses()
    {
        var first = new VaultSimulation(seed: 8, users: 5, attemptLimit: 3);
        var second = new VaultSimulation(seed: 9, users: 5, attemptLimit: 3);
        first.Run(rounds: 10);
        second.Run(rounds: 10);
        CollectionAssert.AreNotEqual(first.TranscriptDigest(), second.TranscriptDigest());
    }

    [TestMethod]
    public void Random_operations_match_the_vault_model_with_the_default_limit()
    {
        var simulation = new VaultSimulation(seed: 11, users: 12, attemptLimit: VaultPolicy.DefaultAttemptLimit);
        simulation.Run(rounds: 200);
        Assert.IsTrue(simulation.Operations >= 800, $"{simulation.Operations} operations");
    }
}

using HsmVault.Host.Pipeline;
using HsmVault.Testing;
using Microsoft.Data.Sqlite;

namespace HsmVault.Host.Tests;

/// <summary>
/// The store audit the crash run and the load run use: whole after real commits, and each kind of
/// damage it exists to catch is reported (a node gone, a node left over, a record half-written, a
/// record without its leaf, a count that lies).
/// </summary>
[TestClass]
public sealed class StoreAuditTests
{
    [TestMethod]
    public async Task A_store_written_by_the_pipeline_is_whole_and_each_kind_of_damage_is_named()
    {
        string path;
        var enclave = new FakeEnclave();
        await using (PipelineHarness harness = await PipelineHarness.StartAsync(enclave))
        {
            await Task.WhenAll(Enumerable.Range(0, 12).Select(i => harness.Pipeline.SubmitAsync(Requests.RegisterFinish($"user-{i}", $"blob-{i}"))));
            await harness.Pipeline.SubmitAsync(Requests.RegisterFinish("user-3", "again"));
            path = harness.StorePath;
            StoreAudit.Result whole = StoreAudit.Check(path, postgres: false);
            Assert.IsEmpty(whole.Problems, whole.ToString());
            Assert.AreEqual(12L, whole.Records);
            Assert.AreEqual(whole.NodeRows, whole.Reachable);

            // Damage a copy, one kind at a time.
            string copy = path + ".copy";
            Expect(path, copy, "DELETE FROM merkle_nodes WHERE hash IN (SELECT hash FROM merkle_nodes WHERE kind = 0 LIMIT 1)", "is not in the store", "the records table does not", "which the root reaches");
            Expect(path, copy, "INSERT INTO merkle_nodes (hash, kind, a, b) VALUES (randomblob(32), 1, randomblob(32), randomblob(32))", "node rows the root does not reach");
            Expect(path, copy, "UPDATE records SET ciphertext = X'00' WHERE key IN (SELECT key FROM records LIMIT 1)", "half-written");
            Expect(path, copy, "DELETE FROM records WHERE key IN (SELECT key FROM records LIMIT 1)", "the records table does not");
            Expect(path, copy, "UPDATE store_state SET record_count = record_count + 1", "store_state.record_count");
        }

        CollectionAssert.AreEqual(Array.Empty<string>(), enclave.Violations);
    }

    private static void Expect(string path, string copy, string damage, params string[] anyOf)
    {
        File.Delete(copy);
        using (var source = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False"))
        {
            source.Open();
            using SqliteCommand backup = source.CreateCommand();
            backup.CommandText = $"VACUUM INTO '{copy}';";
            backup.ExecuteNonQuery();
        }

        using (var target = new SqliteConnection($"Data Source={copy};Pooling=False"))
        {
            target.Open();
            using SqliteCommand command = target.CreateCommand();
            command.CommandText = damage;
            Assert.AreEqual(1, command.ExecuteNonQuery(), damage);
        }

        StoreAudit.Result audit = StoreAudit.Check(copy, postgres: false);
        Assert.IsNotEmpty(audit.Problems, $"{damage}: not caught");
        string said = string.Join("; ", audit.Problems);
        Assert.IsTrue(anyOf.Any(said.Contains), $"{damage}: {said}");
    }
}

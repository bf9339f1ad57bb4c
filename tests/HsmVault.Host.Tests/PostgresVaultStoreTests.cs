using System.Text;
using HsmVault.Enclave;
using HsmVault.Host.Configuration;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Simulator;
using HsmVault.Testing;
using Npgsql;

namespace HsmVault.Host.Tests;

/// <summary>
/// The store contract against a real PostgreSQL server (a throw-away cluster on loopback, one per
/// class so CI starts it once; each test gets its own database), plus what only a server store has:
/// a server that goes away, credentials kept out of messages, and the whole host on it.
/// </summary>
[TestClass]
public sealed class PostgresVaultStoreTests : VaultStoreContract
{
    private const ulong Seed = 4242;
    private static PostgresCluster? s_cluster;
    private static int s_databases;

    private static PostgresCluster Cluster => s_cluster ?? throw new InvalidOperationException("the class's PostgreSQL cluster did not start");

    [ClassInitialize]
    public static void StartCluster(TestContext context) => s_cluster = PostgresCluster.Start();

    [ClassCleanup]
    public static void StopCluster() => s_cluster?.Dispose();

    protected override string NewLocation() => Cluster.CreateDatabase($"store_{Interlocked.Increment(ref s_databases)}");

    protected override IVaultStore Open(string location) => PostgresVaultStore.Open(location);

    protected override bool IsPostgres => true;

    [TestMethod]
    public void The_store_is_named_by_host_port_and_database_only()
    {
        string location = NewLocation();
        using PostgresVaultStore store = PostgresVaultStore.Open(location);

        Assert.AreEqual($"postgresql://127.0.0.1:{Cluster.Port}/{new NpgsqlConnectionStringBuilder(location).Database}", store.Name);
    }

    [TestMethod]
    public void A_stopped_server_is_a_plain_sentence_for_health_commits_and_opening()
    {
        using PostgresCluster own = PostgresCluster.Start();
        string location = own.CreateDatabase("gone");
        using PostgresVaultStore store = PostgresVaultStore.Open(location);
        Assert.IsNull(store.CheckHealth());
        string name = $"postgresql://127.0.0.1:{own.Port}/gone";

        own.Stop();
        string? health = store.CheckHealth();
        StoreUnavailableException commit = Assert.ThrowsExactly<StoreUnavailableException>(
            () => store.Commit(Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1"))));
        StoreUnavailableException open = Assert.ThrowsExactly<StoreUnavailableException>(() => PostgresVaultStore.Open(location));

        foreach (string? message in new[] { health, commit.Message, open.Message })
        {
            Assert.IsNotNull(message);
            StringAssert.StartsWith(message, $"the store {name} ");
            Assert.DoesNotContain(own.Password, message);
            Assert.DoesNotContain("Npgsql", message);
            Assert.DoesNotContain("\n", message);
        }

        StringAssert.Contains(open.Message, "cannot be reached");
        Assert.AreEqual(0UL, store.State.LogIndex);
    }

    [TestMethod]
    public void A_wrong_password_is_named_without_the_password()
    {
        string location = new NpgsqlConnectionStringBuilder(NewLocation()) { Password = "not-the-password" }.ConnectionString;

        StoreUnavailableException ex = Assert.ThrowsExactly<StoreUnavailableException>(() => PostgresVaultStore.Open(location));

        StringAssert.Contains(ex.Message, "refused the login");
        Assert.DoesNotContain("not-the-password", ex.Message);
        Assert.DoesNotContain(Cluster.Password, ex.Message);
    }

    [TestMethod]
    public void A_database_with_another_schema_version_is_refused()
    {
        string location = NewLocation();
        PostgresVaultStore.Open(location).Dispose();
        using (var connection = new NpgsqlConnection(location))
        {
            connection.Open();
            using var command = new NpgsqlCommand("UPDATE store_state SET schema_version = 99", connection);
            command.ExecuteNonQuery();
        }

        StoreUnreadableException ex = Assert.ThrowsExactly<StoreUnreadableException>(() => PostgresVaultStore.Open(location));

        StringAssert.Contains(ex.Message, "has store schema version 99");
    }

    [TestMethod]
    public void Store_options_name_the_key_and_never_repeat_the_connection_string()
    {
        CollectionAssert.AreEqual(Array.Empty<string>(), new StoreOptions().Problems().ToArray());
        string kind = string.Join("; ", new StoreOptions { Kind = "mysql" }.Problems());
        string missing = string.Join("; ", new StoreOptions { Kind = "postgres" }.Problems());
        string malformed = string.Join("; ", new StoreOptions { Kind = "postgres", ConnectionString = "Host=db;Password=s3cret;Bogus=1" }.Problems());
        string noHost = string.Join("; ", new StoreOptions { Kind = "postgres", ConnectionString = "Database=hsmvault" }.Problems());
        string stray = string.Join("; ", new StoreOptions { ConnectionString = "Host=db" }.Problems());

        StringAssert.StartsWith(kind, "Store:Kind: 'mysql'");
        StringAssert.StartsWith(missing, "Store:ConnectionString: missing");
        StringAssert.StartsWith(malformed, "Store:ConnectionString: not a valid connection string");
        Assert.DoesNotContain("s3cret", malformed);
        StringAssert.StartsWith(noHost, "Store:ConnectionString: names no Host");
        StringAssert.StartsWith(stray, "Store:ConnectionString: only used with Store:Kind=postgres");
        CollectionAssert.AreEqual(Array.Empty<string>(), new StoreOptions { Kind = "Postgres", ConnectionString = "Host=db;Database=hsmvault" }.Problems().ToArray());
    }

    [TestMethod]
    public async Task A_host_whose_database_cannot_be_reached_exits_1_with_one_line_naming_it()
    {
        using PostgresCluster own = PostgresCluster.Start();
        string location = own.CreateDatabase("later");
        own.Stop();
        var error = new StringWriter();

        int code = await HostProgram.RunAsync(
            ["--Host:Port=0", "--Health:Enabled=false", "--Store:Kind=postgres", $"--Store:ConnectionString={location}", "--Hsm:Endpoint=tcp:127.0.0.1:9", "--Logging:LogLevel:Default=None"],
            new StringWriter(),
            error).WaitAsync(TimeSpan.FromSeconds(60));

        string[] lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(HostExitCodes.StartupFailure, code, error.ToString());
        Assert.HasCount(1, lines, error.ToString());
        StringAssert.Contains(lines[0], $"the store postgresql://127.0.0.1:{own.Port}/later cannot be reached");
        Assert.DoesNotContain(own.Password, lines[0]);
    }

    [TestMethod]
    public async Task Register_and_recover_through_the_host_on_the_postgres_store_and_after_a_restart()
    {
        string[] store = ["--Store:Kind=postgres", $"--Store:ConnectionString={NewLocation()}"];
        var nvram = new InMemoryNvram();
        var hsm = new InMemoryHsmServices(Seed, nvram);
        string[] names = ["alice", "bob", "carol"];
        await using (RealEnclaveHostTests.RunningHost first = await RealEnclaveHostTests.RunningHost.StartAsync(store, new InProcessEnclaveBridge(new VaultEnclave(hsm, VaultPolicy.Default))))
        {
            Assert.AreEqual(ServiceStatus.Serving, first.Pipeline.Status, first.Pipeline.StatusDetail);
            await Task.WhenAll(names.Select(name => new RealEnclaveHostTests.OpaqueUser(name, hsm).RegisterAsync(first, "pw-" + name, Encoding.UTF8.GetBytes("blob-" + name))));
            byte[]? blob = await new RealEnclaveHostTests.OpaqueUser("alice", hsm).RecoverAsync(first, "pw-alice");
            Assert.AreEqual("blob-alice", blob is null ? null : Encoding.UTF8.GetString(blob));
        }

        var restartedHsm = new InMemoryHsmServices(Seed, nvram);
        await using RealEnclaveHostTests.RunningHost second = await RealEnclaveHostTests.RunningHost.StartAsync(store, new InProcessEnclaveBridge(new VaultEnclave(restartedHsm, VaultPolicy.Default)));

        Assert.AreEqual(ServiceStatus.Serving, second.Pipeline.Status, second.Pipeline.StatusDetail);
        Assert.AreEqual(names.Length, second.Pipeline.StoreState.RecordCount);
        foreach (string name in names)
        {
            byte[]? blob = await new RealEnclaveHostTests.OpaqueUser(name, restartedHsm).RecoverAsync(second, "pw-" + name);
            Assert.AreEqual("blob-" + name, blob is null ? null : Encoding.UTF8.GetString(blob));
        }
    }
}

using HsmVault.Host.Fleet;
using HsmVault.Host.Store;

namespace HsmVault.Host.Tests;

/// <summary>The leader lease over a real store, with a clock the test moves: no sockets, no HSM.</summary>
[TestClass]
public sealed class LeaderLeaseTests
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(3);

    [TestMethod]
    public void One_host_takes_a_lapsed_lease_and_nobody_else_can_while_it_lives()
    {
        using var directory = new TempDirectory();
        var clock = new ManualClock();
        using SqliteVaultStore one = SqliteVaultStore.Open(directory.File("fleet.db"));
        using SqliteVaultStore two = SqliteVaultStore.Open(directory.File("fleet.db"));
        var first = new LeaderLease(one, new Lock(), 0, 3, Duration, clock);
        var second = new LeaderLease(two, new Lock(), 1, 3, Duration, clock);

        LeaderLease.View empty = first.Read();
        Assert.IsTrue(empty.Lapsed);
        Assert.IsTrue(first.TryTake(empty));

        // The second host read the same empty lease: the compare-and-set fails for it.
        Assert.IsFalse(second.TryTake(empty));
        LeaderLease.View live = second.Read();
        Assert.IsFalse(second.MayTake(live));
        Assert.AreEqual(0, second.OtherHolder());
        Assert.AreEqual(-1, first.OtherHolder(), "a host does not forward to itself");
    }

    [TestMethod]
    public void A_lease_that_lapses_passes_to_another_host_and_the_old_holder_learns_it_at_its_next_renewal()
    {
        using var directory = new TempDirectory();
        var clock = new ManualClock();
        using SqliteVaultStore one = SqliteVaultStore.Open(directory.File("fleet.db"));
        using SqliteVaultStore two = SqliteVaultStore.Open(directory.File("fleet.db"));
        var first = new LeaderLease(one, new Lock(), 0, 3, Duration, clock);
        var second = new LeaderLease(two, new Lock(), 1, 3, Duration, clock);
        Assert.IsTrue(first.TryTake(first.Read()));

        // The first host stalls past its lease (a long GC, a partition); the second takes over.
        clock.Advance(Duration + TimeSpan.FromMilliseconds(1));
        LeaderLease.View lapsed = second.Read();
        Assert.IsTrue(second.MayTake(lapsed));
        Assert.IsTrue(second.TryTake(lapsed));

        Assert.IsFalse(first.Renew(), "the old holder must find out it lost the lease");
        Assert.IsFalse(first.Held);
        Assert.AreEqual(1, first.OtherHolder());
    }

    [TestMethod]
    public void Renewal_writes_only_after_a_third_of_the_lease_and_keeps_it_alive_indefinitely()
    {
        using var directory = new TempDirectory();
        var clock = new ManualClock();
        using SqliteVaultStore store = SqliteVaultStore.Open(directory.File("fleet.db"));
        var lease = new LeaderLease(store, new Lock(), 2, 3, Duration, clock);
        Assert.IsTrue(lease.TryTake(lease.Read()));
        byte[] taken = store.ReadFleetValue("leader-lease")!;

        clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.IsTrue(lease.Renew());
        CollectionAssert.AreEqual(taken, store.ReadFleetValue("leader-lease"), "no write before a third of the lease passed");

        for (int i = 0; i < 10; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(2));
            Assert.IsTrue(lease.Renew(), $"renewal {i}");
        }

        Assert.IsFalse(lease.Read().Lapsed);
    }

    [TestMethod]
    public void A_released_lease_is_takeable_at_once_and_a_forged_lease_value_counts_as_lapsed()
    {
        using var directory = new TempDirectory();
        var clock = new ManualClock();
        using SqliteVaultStore store = SqliteVaultStore.Open(directory.File("fleet.db"));
        var first = new LeaderLease(store, new Lock(), 0, 3, Duration, clock);
        var second = new LeaderLease(store, new Lock(), 1, 3, Duration, clock);
        Assert.IsTrue(first.TryTake(first.Read()));
        first.Release();

        Assert.IsTrue(second.Read().Lapsed);
        Assert.IsTrue(second.TryTake(second.Read()));

        // A hostile store writes garbage: hosts treat it as no lease (only availability is at stake).
        byte[] current = store.ReadFleetValue("leader-lease")!;
        Assert.IsTrue(store.CompareAndSetFleetValue("leader-lease", current, [1, 2, 3]));
        LeaderLease.View forged = first.Read();
        Assert.IsTrue(forged.Lapsed);
        Assert.AreEqual(-1, first.OtherHolder());
        Assert.IsTrue(first.TryTake(forged));
    }

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}

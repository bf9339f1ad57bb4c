using System.Buffers.Binary;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Tests;

/// <summary>NVRAM over SoftHSM2 data objects. Each test uses its own key label prefix on the class's token.</summary>
[TestClass]
public sealed class Pkcs11NvramTests
{
    private static Pkcs11Options? s_token;

    public TestContext TestContext { get; set; } = null!;

    private Pkcs11Options Token => s_token ?? throw new InvalidOperationException("Class initialisation did not run.");

    private Pkcs11Options Options => Token with { KeyLabelPrefix = $"{Token.KeyLabelPrefix}-{TestContext.TestName}" };

    private string NvramLabel => $"{Options.KeyLabelPrefix}-nvram";

    [ClassInitialize]
    public static void CreateKeySet(TestContext context) => s_token = SoftHsmSandbox.ForThisProcess.NewKeySet("nvram");

    [TestMethod]
    public void Nvram_is_empty_before_the_first_write()
    {
        using var hsm = Pkcs11HsmServices.OpenOrProvision(Options);
        Assert.IsEmpty(hsm.ReadNvram());
        Assert.AreEqual(4096, hsm.NvramCapacity);
    }

    [TestMethod]
    public void Nvram_reads_back_the_last_write_and_keeps_one_object()
    {
        using var hsm = Pkcs11HsmServices.OpenOrProvision(Options);
        foreach (int length in new[] { 1, 100, 0, 4096, 37 })
        {
            byte[] content = Enumerable.Range(0, length).Select(i => (byte)(i * 7 + length)).ToArray();
            hsm.WriteNvram(content);
            CollectionAssert.AreEqual(content, hsm.ReadNvram(), $"length {length}");
        }

        using var inspector = new TokenInspector(Options);
        Assert.HasCount(1, inspector.Find(CKO.CKO_DATA, NvramLabel));
    }

    [TestMethod]
    public void Nvram_survives_dispose_and_reopen()
    {
        byte[] content = "log index 17, root 0xabc"u8.ToArray();
        using (var hsm = Pkcs11HsmServices.OpenOrProvision(Options))
        {
            hsm.WriteNvram("older"u8);
            hsm.WriteNvram(content);
        }

        using var reopened = Pkcs11HsmServices.Open(Options);
        CollectionAssert.AreEqual(content, reopened.ReadNvram());
    }

    [TestMethod]
    public void Nvram_refuses_content_over_capacity_and_keeps_the_old_content()
    {
        using var hsm = Pkcs11HsmServices.OpenOrProvision(Options);
        hsm.WriteNvram("kept"u8);
        ArgumentException ex = Assert.ThrowsExactly<ArgumentException>(() => hsm.WriteNvram(new byte[hsm.NvramCapacity + 1]));
        Assert.AreEqual("content", ex.ParamName);
        CollectionAssert.AreEqual("kept"u8.ToArray(), hsm.ReadNvram());
    }

    [TestMethod]
    public void Crash_after_creating_the_next_object_resolves_to_the_higher_sequence()
    {
        using (var hsm = Pkcs11HsmServices.OpenOrProvision(Options))
        {
            hsm.WriteNvram("first"u8);
            hsm.WriteNvram("second"u8);
        }

        // The crash: the next object (sequence 3) was created, the previous one not yet destroyed.
        using var inspector = new TokenInspector(Options);
        CreateNvramObject(inspector, 3, "third"u8.ToArray());
        Assert.HasCount(2, inspector.Find(CKO.CKO_DATA, NvramLabel));

        using var reopened = Pkcs11HsmServices.Open(Options);
        CollectionAssert.AreEqual("third"u8.ToArray(), reopened.ReadNvram());
        Assert.HasCount(1, inspector.Find(CKO.CKO_DATA, NvramLabel), "start-up destroys the older object");

        reopened.WriteNvram("fourth"u8);
        IObjectHandle current = inspector.FindSingle(CKO.CKO_DATA, NvramLabel);
        Assert.AreEqual(4UL, BinaryPrimitives.ReadUInt64BigEndian(inspector.Read(current, CKA.CKA_VALUE).GetValueAsByteArray()));
    }

    [TestMethod]
    public void A_leftover_older_object_never_wins()
    {
        using (var hsm = Pkcs11HsmServices.OpenOrProvision(Options))
        {
            hsm.WriteNvram("first"u8);
            hsm.WriteNvram("second"u8);
        }

        using var inspector = new TokenInspector(Options);
        CreateNvramObject(inspector, 1, "stale"u8.ToArray());

        using var reopened = Pkcs11HsmServices.Open(Options);
        CollectionAssert.AreEqual("second"u8.ToArray(), reopened.ReadNvram());
        Assert.HasCount(1, inspector.Find(CKO.CKO_DATA, NvramLabel));
    }

    [TestMethod]
    public void Open_refuses_a_malformed_nvram_object_rather_than_start_empty()
    {
        using (Pkcs11HsmServices.OpenOrProvision(Options))
        {
        }

        using var inspector = new TokenInspector(Options);
        CreateNvramObject(inspector, rawValue: [1, 2, 3]);
        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.Open(Options));
        Assert.Contains(NvramLabel, ex.Message);
    }

    [TestMethod]
    public void Open_refuses_two_nvram_objects_with_the_same_sequence()
    {
        using (var hsm = Pkcs11HsmServices.OpenOrProvision(Options))
        {
            hsm.WriteNvram("one"u8);
        }

        using var inspector = new TokenInspector(Options);
        CreateNvramObject(inspector, 1, "forged"u8.ToArray());
        Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.Open(Options));
    }

    private void CreateNvramObject(TokenInspector inspector, ulong sequence, byte[] content)
    {
        byte[] value = new byte[8 + content.Length];
        BinaryPrimitives.WriteUInt64BigEndian(value, sequence);
        content.CopyTo(value, 8);
        CreateNvramObject(inspector, value);
    }

    private void CreateNvramObject(TokenInspector inspector, byte[] rawValue) =>
        inspector.Session.CreateObject(
        [
            inspector.Attributes.Create(CKA.CKA_CLASS, CKO.CKO_DATA),
            inspector.Attributes.Create(CKA.CKA_TOKEN, true),
            inspector.Attributes.Create(CKA.CKA_PRIVATE, true),
            inspector.Attributes.Create(CKA.CKA_LABEL, NvramLabel),
            inspector.Attributes.Create(CKA.CKA_VALUE, rawValue),
        ]);
}

using Google.Protobuf;
using HsmVault.Protocol;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Tests.Vault;

[TestClass]
public sealed class LogEntryCodecTests
{
    [TestMethod]
    public void The_log_mac_input_bytes_are_pinned()
    {
        var entry = new LogEntry
        {
            Index = 0x0102030405060708,
            PreviousMac = ByteString.CopyFrom(Enumerable.Repeat((byte)0xAA, 32).ToArray()),
            MerkleRoot = ByteString.CopyFrom(Enumerable.Repeat((byte)0xBB, 32).ToArray()),
            Mac = ByteString.CopyFrom(new byte[32]),
        };
        entry.Updates.Add(new LeafUpdate { Key = ByteString.CopyFrom(Enumerable.Repeat((byte)0x11, 32).ToArray()), ValueHash = ByteString.CopyFrom(Enumerable.Repeat((byte)0x22, 32).ToArray()) });
        entry.Updates.Add(new LeafUpdate { Key = ByteString.CopyFrom(Enumerable.Repeat((byte)0x33, 32).ToArray()) });

        string golden =
            "48736D5661756C742D7631206C6F6720656E747279" + "0102030405060708" +
            string.Concat(Enumerable.Repeat("AA", 32)) + string.Concat(Enumerable.Repeat("BB", 32)) + "00000002" +
            string.Concat(Enumerable.Repeat("11", 32)) + string.Concat(Enumerable.Repeat("22", 32)) +
            string.Concat(Enumerable.Repeat("33", 32)) + string.Concat(Enumerable.Repeat("00", 32));
        Assert.AreEqual(golden, Convert.ToHexString(LogEntryCodec.MacInput(entry)));
    }

    [TestMethod]
    public void The_operator_delete_statement_bytes_are_pinned()
    {
        byte[] statement = OperatorDeleteStatement.ToSign("bob"u8, 5);
        Assert.AreEqual("48736D5661756C742D7631206F70657261746F722064656C657465" + "00000003" + "626F62" + "0000000000000005", Convert.ToHexString(statement));
    }
}

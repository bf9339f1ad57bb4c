using System.Buffers.Binary;
using Google.Protobuf;
using HsmVault.Crypto.Channel;
using HsmVault.Enclave;
using HsmVault.Fuzz.Support;
using HsmVault.Fuzz.Targets;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;

namespace HsmVault.Fuzz.Tests;

/// <summary>Regression tests for what the fuzzers found (docs/RELIABILITY.md, "Findings").</summary>
[TestClass]
public sealed class FindingRegressionTests
{
    private static readonly Lazy<VaultWorld> World = new(VaultWorld.Build);

    /// <summary>
    /// F2 (sealed-state): a login session whose sealed server state is not 64 bytes threw a
    /// CryptoFormatException out of LoginFinish, and the enclave's catch-all failed the whole batch
    /// (ENCLAVE_INTERNAL), so every other operation in it went unanswered. It is now not a session.
    /// </summary>
    [TestMethod]
    public void A_login_session_with_a_server_state_of_another_length_is_refused_and_fails_nothing_else_in_its_batch()
    {
        VaultWorld world = World.Value;
        (VaultEnclave enclave, InMemoryHsmServices hsm) = world.NewEnclave();
        foreach (int stateLength in new[] { 0, 63, 65 })
        {
            byte[] plaintext = new byte[9 + stateLength];
            BinaryPrimitives.WriteUInt64BigEndian(plaintext.AsSpan(1), world.LogIndex);
            byte[] session = hsm.Seal(plaintext, [.. "HsmVault-v1 login session"u8, .. VaultWorld.Alice]);
            TestClient client = world.NewClient((ulong)stateLength + 100);
            (ClientRequest finish, PendingChannelResponse finishOpen) = client.Seal(VaultWorld.Alice, new VaultRequest
            {
                LoginFinish = new LoginFinish { LoginSession = ByteString.CopyFrom(session), Ke3 = ByteString.CopyFrom(world.AliceKe3), Action = LoginAction.Recover },
            }.ToByteArray(), 1);
            (ClientRequest status, PendingChannelResponse statusOpen) = client.Seal(VaultWorld.Carol, new VaultRequest { Status = new StatusQuery() }.ToByteArray(), 2);
            var batch = new Batch();
            batch.Operations.Add(new Operation { Tag = 1, Client = finish, Witness = world.Store.WitnessFor(VaultWorld.Alice) });
            batch.Operations.Add(new Operation { Tag = 2, Client = status, Witness = world.Store.WitnessFor(VaultWorld.Carol) });

            EnclaveResponse response = EnclaveResponse.Parser.ParseFrom(enclave.Handle(new EnclaveRequest { Batch = batch }.ToByteArray()));

            Assert.AreEqual(EnclaveResponse.KindOneofCase.Batch, response.KindCase, $"state of {stateLength} bytes: {response}");
            VaultResponse refused = TestClient.Open(finishOpen, response.Batch.Results[0].Client, "finish");
            Assert.AreEqual(ErrorCode.BadRequest, refused.Error?.Code, refused.ToString());
            Assert.AreEqual("login_finish.login_session", refused.Error!.Field);
            VaultResponse answered = TestClient.Open(statusOpen, response.Batch.Results[1].Client, "status");
            Assert.AreEqual(ErrorCode.NotRegistered, answered.Error?.Code, "the other operation of the batch is answered");
        }
    }

    /// <summary>
    /// F3 (fleet): a configuration whose operator key has the right form (65 bytes, 0x04 first) but is
    /// not a point on P-256 passed the configuration check; genesis then wrote NVRAM and failed on the
    /// key (ENCLAVE_INTERNAL), leaving a member bound to a configuration it can never open. It is now
    /// refused before anything is written, and so are Open and Join with such a key.
    /// </summary>
    [TestMethod]
    public void A_configuration_whose_operator_key_is_not_on_the_curve_is_refused_before_nvram_is_written()
    {
        FleetWorld world = FleetWorld.Build();
        FleetConfiguration bad = world.Configuration.Clone();
        byte[] offCurve = [0x04, .. Enumerable.Repeat((byte)0x01, 64)];
        bad.OperatorPublicKey = ByteString.CopyFrom(offCurve);
        (Enclave.Fleet.FleetEnclave member, InMemoryHsmServices hsm) = FleetWorld.NewMember(0, null);

        EnclaveResponse genesis = FleetWorld.Call(member, new EnclaveRequest { FleetGenesis = new FleetGenesisRequest { Configuration = bad } });

        Assert.AreEqual(EnclaveErrorCode.FleetRefused, genesis.Error?.Code, genesis.ToString());
        StringAssert.Contains(genesis.Error!.Message, "OperatorPublicKey");
        Assert.IsEmpty(hsm.ReadNvram(), "nothing was written");
        EnclaveResponse good = FleetWorld.Call(member, new EnclaveRequest { FleetGenesis = new FleetGenesisRequest { Configuration = world.Configuration } });
        Assert.AreEqual(EnclaveResponse.KindOneofCase.FleetState, good.KindCase, "the member can still start a fleet");

        (Enclave.Fleet.FleetEnclave witness, _) = FleetWorld.NewMember(1, null);
        EnclaveResponse open = FleetWorld.Call(witness, new EnclaveRequest { FleetOpen = new FleetOpenRequest { Configuration = bad } });
        Assert.AreNotEqual(EnclaveErrorCode.EnclaveInternal, open.Error?.Code ?? EnclaveErrorCode.EnclaveErrorUnspecified, open.ToString());
    }

    [TestMethod]
    public void The_sealed_state_input_afl_found_now_ends_in_bad_request()
    {
        var target = new SealedStateTarget();
        target.Prepare();
        byte[] input = File.ReadAllBytes(Path.Combine(RepositoryPaths.Corpus("sealed-state"), "finding-F2-login-session-length"));

        ReplayResult result = FuzzReplay.Run(target, input, "finding-F2");

        Assert.IsFalse(result.Failed, result.ToString());
        Assert.AreEqual("error:BadRequest", result.Label);
    }

    [TestMethod]
    public void The_merkle_input_afl_found_now_ends_in_a_refused_removal()
    {
        // F1: the proof withholds its deepest sibling (a lone leaf). Remove used to guess "interior"
        // and reach a root the real tree never has; now it refuses, and the other steps still agree.
        var target = new MerkleTarget();
        target.Prepare();
        byte[] input = File.ReadAllBytes(Path.Combine(RepositoryPaths.Corpus("merkle"), "finding-F1-withheld-sibling-leaf"));

        ReplayResult result = FuzzReplay.Run(target, input, "finding-F1");

        Assert.IsFalse(result.Failed, result.ToString());
        Assert.IsNotNull(result.Label);
        StringAssert.EndsWith(result.Label, "/remove:MissingNode", result.Label);
        StringAssert.Contains(result.Label, "/set:ok", result.Label);
    }
}

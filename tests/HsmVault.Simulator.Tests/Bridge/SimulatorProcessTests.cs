using System.Security.Cryptography;
using HsmVault.Protocol.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Simulator.Tests.Enclave;
using HsmVault.Simulator.Tests.Fleet;
using HsmVault.Testing;

namespace HsmVault.Simulator.Tests.Bridge;

/// <summary>
/// The real simulator process (<c>HsmVault.Simulator.dll serve</c>, copied next to this test
/// assembly by the project reference) over its own SoftHSM2 state directory, reached over its
/// Unix socket and killed at the end.
/// </summary>
[TestClass]
public sealed class SimulatorProcessTests
{
    [TestMethod]
    public void The_simulator_process_serves_a_vault_and_survives_malformed_frames()
    {
        string directory = Directory.CreateTempSubdirectory("hsmvault-simproc-").FullName;
        string socketPath = Path.Combine(directory, "hsm.sock");
        try
        {
            using SimulatorProcess.Serving simulator = SimulatorProcess.Serve(socketPath, Path.Combine(directory, "state"));
            using (var garbage = new BridgeTestConnection(socketPath))
            {
                EnclaveResponse answer = EnclaveResponse.Parser.ParseFrom(garbage.Send([0x0A, 0xFF, 0xFF, 0xFF]));
                Assert.AreEqual(EnclaveErrorCode.MalformedRequest, answer.Error.Code, answer.ToString());
            }

            using (var oversized = new BridgeTestConnection(socketPath))
            {
                oversized.WriteRaw([0x7F, 0xFF, 0xFF, 0xFF, 0x01]);
                Assert.IsTrue(oversized.IsClosedByPeerAfterAnyAnswer(), "an oversized frame closes its connection");
            }

            using (var truncated = new BridgeTestConnection(socketPath))
            {
                truncated.WriteRaw([0x00, 0x00, 0x00, 0x40, 0x01, 0x02]);
                truncated.EndWriting();
                Assert.IsTrue(truncated.IsClosedByPeerAfterAnyAnswer(), "a truncated frame closes its connection");
            }

            using var connection = new BridgeTestConnection(socketPath);
            var host = new InMemoryVaultHost(connection.Send);
            var alice = new VaultTestUser(host, "alice");
            byte[] key = RandomNumberGenerator.GetBytes(32);
            alice.Register("pw", key);
            Assert.IsNull(alice.Recover("wrong"));
            Assert.AreEqual(9u, alice.Status().Status.AttemptsLeft);
            CollectionAssert.AreEqual(key, alice.Recover("pw"), "the process still serves after the malformed connections");
            Assert.IsFalse(simulator.Process.HasExited, "the simulator is still running");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void A_fleet_member_process_answers_a_fleet_state_query_as_unjoined()
    {
        string directory = Directory.CreateTempSubdirectory("hsmvault-simfleet-").FullName;
        string socketPath = Path.Combine(directory, "hsm.sock");
        string state = Path.Combine(directory, "state");
        try
        {
            using SimulatorProcess.Serving member = SimulatorProcess.Serve(socketPath, state, "--fleet");
            (string memberId, _) = ServedMember(member);
            StringAssert.Contains(member.Line("listening on"), $"(fleet member {memberId}, token 'hsmvault-sim', fleet keys in {Path.Combine(state, "fleet-keys.json")})");

            using var connection = new BridgeTestConnection(socketPath);
            EnclaveResponse answer = connection.Send(new EnclaveRequest { FleetState = new FleetStateQuery() });
            Assert.AreEqual(EnclaveResponse.KindOneofCase.FleetState, answer.KindCase, answer.ToString());
            Assert.AreEqual(FleetRole.Unjoined, answer.FleetState.Role);
            Assert.AreEqual(memberId, Convert.ToHexStringLower(answer.FleetState.Member.Span), "the member id printed at start-up");

            // A fleet member, not a single-HSM vault: a vault's request is not one of its requests.
            EnclaveResponse vault = connection.Send(new EnclaveRequest { Initialize = new InitializeRequest() });
            Assert.AreEqual(EnclaveErrorCode.MalformedRequest, vault.Error.Code, vault.ToString());
            Assert.IsTrue(File.Exists(Path.Combine(state, "fleet-keys.json")), "the fleet-key set is written as for a vault");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void Two_member_processes_made_by_clone_form_a_fleet_over_their_bridges()
    {
        string directory = Directory.CreateTempSubdirectory("hsmvault-simclone-").FullName;
        string first = Path.Combine(directory, "first");
        string second = Path.Combine(directory, "second");
        try
        {
            // Provisioned by serving it once; cloned while it is stopped.
            using (SimulatorProcess.Serve(Path.Combine(directory, "first.sock"), first, "--fleet"))
            {
            }

            Outcome cloned = SimulatorProcess.Run(["clone", "--from", first, "--to", second]);
            Assert.AreEqual(SimulatorExitCode.Cloned, cloned.ExitCode, cloned.ToString());

            using SimulatorProcess.Serving firstMember = SimulatorProcess.Serve(Path.Combine(directory, "first.sock"), first, "--fleet");
            using SimulatorProcess.Serving secondMember = SimulatorProcess.Serve(Path.Combine(directory, "second.sock"), second, "--fleet");
            Assert.AreEqual(File.ReadAllText(Path.Combine(first, "fleet-keys.json")), File.ReadAllText(Path.Combine(second, "fleet-keys.json")), "one fleet-key set for clients to pin");
            FleetKeySet keys = FleetKeySet.Load(Path.Combine(second, "fleet-keys.json"));
            (string firstId, byte[] firstIdentity) = ServedMember(firstMember);
            (string secondId, byte[] secondIdentity) = ServedMember(secondMember);
            Assert.AreNotEqual(firstId, secondId, "the clone is another member");

            using var toFirst = new BridgeTestConnection(Path.Combine(directory, "first.sock"));
            using var toSecond = new BridgeTestConnection(Path.Combine(directory, "second.sock"));
            var fleet = new HonestFleetHosts([toFirst.Send, toSecond.Send], [firstIdentity, secondIdentity], keys.OpaqueAkePublicKey, keys.ChannelPublicKey);
            fleet.Form();
            fleet.Elect(0);
            Assert.AreEqual(CaptureOutcome.CaptureOk, fleet.LastCaptures[1].Outcome, fleet.LastCaptures[1].ToString());
            var bob = new VaultTestUser(fleet.Send, () => fleet.AkePublicKey, "bob");
            byte[] backupKey = RandomNumberGenerator.GetBytes(32);
            bob.Register("pw", backupKey);

            fleet.StepDown();
            fleet.Elect(1);
            CollectionAssert.AreEqual(backupKey, bob.Recover("pw"), "the clone's process recovers what the first one registered");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    [DataRow("tcp:10.0.0.1:7301", "--listen: 10.0.0.1 is not a loopback address")]
    [DataRow("tcp:127.0.0.1", "--listen: 'tcp:127.0.0.1' is not tcp:<host>:<port>")]
    public void Serve_refuses_a_bad_listen_address_and_says_why(string listen, string expected)
    {
        Outcome outcome = SimulatorProcess.Run(["serve", "--listen", listen]);
        Assert.AreEqual(2, outcome.ExitCode, outcome.Output);
        StringAssert.Contains(outcome.Error, expected);
    }

    // "serving fleet member <id> (identity key <hex>); ...": what a host needs to put the member in a configuration.
    private static (string MemberId, byte[] IdentityPublicKey) ServedMember(SimulatorProcess.Serving member)
    {
        string[] words = member.Line("serving fleet member").Split(' ');
        int at = Array.IndexOf(words, "member");
        string identity = words[at + 4].TrimEnd(')', ';');
        return (words[at + 1], Convert.FromHexString(identity));
    }
}

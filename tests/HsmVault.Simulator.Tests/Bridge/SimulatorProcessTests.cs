using System.Diagnostics;
using System.Security.Cryptography;
using HsmVault.Protocol.V1;
using HsmVault.Simulator.Tests.Enclave;
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
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [TestMethod]
    public void The_simulator_process_serves_a_vault_and_survives_malformed_frames()
    {
        string directory = Directory.CreateTempSubdirectory("hsmvault-simproc-").FullName;
        string socketPath = Path.Combine(directory, "hsm.sock");
        using Process simulator = Start(socketPath, Path.Combine(directory, "state"));
        try
        {
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
            Assert.IsFalse(simulator.HasExited, "the simulator is still running");
        }
        finally
        {
            if (!simulator.HasExited)
            {
                simulator.Kill(entireProcessTree: true);
                simulator.WaitForExit(10_000);
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    [DataRow("tcp:10.0.0.1:7301", "--listen: 10.0.0.1 is not a loopback address")]
    [DataRow("tcp:127.0.0.1", "--listen: 'tcp:127.0.0.1' is not tcp:<host>:<port>")]
    public void Serve_refuses_a_bad_listen_address_and_says_why(string listen, string expected)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[] { SimulatorDll(), "serve", "--listen", listen })
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(StartTimeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the simulator did not exit within {StartTimeout.TotalSeconds} s on --listen {listen}");
        }

        Assert.AreEqual(2, process.ExitCode, stdout.Result);
        StringAssert.Contains(stderr.Result, expected);
    }

    private static string SimulatorDll()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "HsmVault.Simulator.dll");
        Assert.IsTrue(File.Exists(dll), $"the simulator is built next to the tests: {dll}");
        return dll;
    }

    private static Process Start(string socketPath, string stateDirectory)
    {
        string dll = SimulatorDll();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[] { dll, "serve", "--listen", "unix:" + socketPath, "--state-dir", stateDirectory })
        {
            start.ArgumentList.Add(argument);
        }

        // The child writes its own softhsm2.conf into --state-dir before it loads SoftHSM2. The
        // variable is set here, in the real process environment, because SoftHSM2 reads it with
        // getenv and .NET's Environment.SetEnvironmentVariable does not reach that on Linux.
        start.Environment["SOFTHSM2_CONF"] = Path.Combine(stateDirectory, "softhsm2.conf");
        Process process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var errors = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                ready.TrySetResult(false);
            }
            else if (e.Data.Contains("hsmvault-simulator: listening on", StringComparison.Ordinal))
            {
                ready.TrySetResult(true);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!ready.Task.Wait(StartTimeout) || !ready.Task.Result)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            lock (errors)
            {
                Assert.Fail($"the simulator did not report 'listening on' within {StartTimeout.TotalSeconds} s; stderr: {errors}");
            }
        }

        return process;
    }
}

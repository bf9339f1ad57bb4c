using System.Diagnostics;

namespace HsmVault.Simulator.Tests.Bridge;

/// <summary>
/// How the simulator process starts or refuses to: one line naming the input and what was wrong,
/// the exit code --help documents, no stack trace, and nothing left on the token.
/// </summary>
[TestClass]
public sealed class SimulatorStartupTests
{
    [TestMethod]
    public void An_unknown_token_label_names_it_and_lists_the_labels_present()
    {
        SoftHsmSandbox sandbox = SoftHsmSandbox.ForThisProcess;
        string present = sandbox.SharedToken.TokenLabel;
        string socket = Path.Combine(Path.GetTempPath(), $"hsmvault-unknown-{Environment.ProcessId}.sock");

        Outcome outcome = SimulatorProcess.Run(
            ["serve", "--listen", "unix:" + socket, "--library", sandbox.LibraryPath, "--token-label", "no-such-token", "--pin-env", "HSMVAULT_TEST_UNSET_PIN"],
            SandboxEnvironment(sandbox));

        Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
        string line = outcome.SingleErrorLine();
        Assert.Contains("'no-such-token'", line);
        Assert.Contains("tokens present:", line);
        Assert.Contains($"'{present}'", line);
    }

    [TestMethod]
    public void A_token_without_gcm_or_ec_support_is_refused_before_anything_is_created()
    {
        SoftHsmSandbox sandbox = SoftHsmSandbox.ForThisProcess;
        if (sandbox.PreinitialisedTokenLabel is not null)
        {
            Assert.Inconclusive("This test hides mechanisms through a SoftHSM2 configuration of its own.");
        }

        string directory = Directory.CreateTempSubdirectory("hsmvault-nomech-").FullName;
        try
        {
            // The simulator's state directory keeps an existing softhsm2.conf: this one hides two mechanisms.
            // SoftHSM2 2.6 ignores the first name after the leading '-', hence the CKM_MD5 in front.
            string tokens = Path.Combine(directory, "tokens");
            Directory.CreateDirectory(tokens);
            string config = Path.Combine(directory, "softhsm2.conf");
            SoftHsmStateDirectory.WriteConfiguration(config, tokens);
            File.AppendAllText(config, "slots.mechanisms = -CKM_MD5,CKM_AES_GCM,CKM_EC_KEY_PAIR_GEN\n");

            Outcome outcome = SimulatorProcess.Run(
                ["serve", "--listen", "unix:" + Path.Combine(directory, "hsm.sock"), "--state-dir", directory, "--library", sandbox.LibraryPath],
                new Dictionary<string, string> { ["SOFTHSM2_CONF"] = config });

            Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
            string line = outcome.SingleErrorLine();
            Assert.Contains("lacks 2 of the mechanisms", line);
            Assert.Contains("CKM_AES_GCM is not offered", line);
            Assert.Contains("CKM_EC_KEY_PAIR_GEN is not offered", line);
            Assert.Contains("Nothing was created", line);

            // SoftHSM2's file store keeps one .object file per object beside token.object.
            string[] objects = [.. Directory.EnumerateFiles(tokens, "*.object", SearchOption.AllDirectories).Select(Path.GetFileName)!];
            CollectionAssert.AreEqual(new[] { "token.object" }, objects, "the token was initialised but holds no key");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void A_command_line_that_does_not_parse_is_a_configuration_error()
    {
        Outcome outcome = SimulatorProcess.Run(["serve"]);
        Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
        Assert.Contains("--listen", outcome.Error);
    }

    [TestMethod]
    public void Help_lists_the_exit_codes()
    {
        Outcome outcome = SimulatorProcess.Run(["serve", "--help"]);
        Assert.AreEqual(0, outcome.ExitCode, outcome.ToString());
        Assert.Contains(SimulatorExitCode.Table, outcome.Output.ReplaceLineEndings("\n"));
        Assert.Contains("--gcm-iv", outcome.Output);
        Assert.Contains("--key-label-prefix", outcome.Output);
        Assert.Contains("--fleet", outcome.Output);
    }

    [TestMethod]
    [DataRow("--attempt-limit", "5")]
    [DataRow("--operator-key", "04")]
    public void A_fleet_member_refuses_the_policy_options_its_fleet_configuration_sets(string option, string value)
    {
        string directory = Directory.CreateTempSubdirectory("hsmvault-fleetopt-").FullName;
        try
        {
            string state = Path.Combine(directory, "state");
            Outcome outcome = SimulatorProcess.Run(["serve", "--fleet", option, value, "--listen", "unix:" + Path.Combine(directory, "hsm.sock"), "--state-dir", state]);

            Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
            string line = outcome.SingleErrorLine();
            Assert.StartsWith($"hsmvault-simulator: {option}: not with --fleet", line);
            Assert.Contains("fleet configuration", line);
            Assert.IsFalse(Directory.Exists(state), "refused before any token was made");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void An_operator_key_off_the_curve_is_refused_in_one_line_before_any_token_is_made()
    {
        string directory = Directory.CreateTempSubdirectory("hsmvault-offcurve-").FullName;
        try
        {
            string state = Path.Combine(directory, "state");
            string offCurve = "04" + new string('1', 128);
            Outcome outcome = SimulatorProcess.Run(["serve", "--operator-key", offCurve, "--listen", "unix:" + Path.Combine(directory, "hsm.sock"), "--state-dir", state]);

            Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
            string line = outcome.SingleErrorLine();
            Assert.StartsWith("hsmvault-simulator: --operator-key:", line);
            Assert.Contains("not a point on P-256", line);
            Assert.IsFalse(Directory.Exists(state), "refused before any token was made");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void Clone_help_says_it_is_test_only_and_lists_its_exit_codes()
    {
        Outcome outcome = SimulatorProcess.Run(["clone", "--help"]);
        Assert.AreEqual(0, outcome.ExitCode, outcome.ToString());
        string help = outcome.Output.ReplaceLineEndings("\n");
        Assert.Contains("TEST ONLY", help);
        Assert.Contains("key wrap", help);
        Assert.Contains("--from", help);
        Assert.Contains("--to", help);
        Assert.Contains(SimulatorExitCode.CloneTable, help);
    }

    [TestMethod]
    public void The_simulator_provisions_a_token_initialised_beforehand_under_its_own_prefix()
    {
        SoftHsmSandbox sandbox = SoftHsmSandbox.ForThisProcess;
        var options = sandbox.NewKeySet("simulator-existing");
        string socket = Path.Combine(Path.GetTempPath(), $"hsmvault-existing-{Environment.ProcessId}.sock");
        Dictionary<string, string> environment = SandboxEnvironment(sandbox);
        environment["HSMVAULT_TEST_SIMULATOR_PIN"] = SoftHsmSandbox.PinOf(options);

        var start = SimulatorProcess.StartInfo(
            ["serve", "--listen", "unix:" + socket, "--library", sandbox.LibraryPath, "--token-label", options.TokenLabel,
                "--pin-env", "HSMVAULT_TEST_SIMULATOR_PIN", "--key-label-prefix", options.KeyLabelPrefix],
            environment);
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        try
        {
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            string? line;
            while ((line = process.StandardOutput.ReadLine()) is not null && !line.Contains("listening on", StringComparison.Ordinal))
            {
            }

            Assert.IsNotNull(line, $"the simulator exited with {(process.WaitForExit(10_000) ? process.ExitCode : -1)}: {stderr.Result}");
            Assert.Contains($"token '{options.TokenLabel}'", line);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }

            File.Delete(socket);
        }

        using var inspector = new TokenInspector(options);
        Assert.IsNotEmpty(inspector.LabelsStartingWith(options.KeyLabelPrefix + "-record-key"), "the keys were generated on the existing token");
    }

    private static Dictionary<string, string> SandboxEnvironment(SoftHsmSandbox sandbox) =>
        sandbox.ConfigPath.Length > 0 ? new() { ["SOFTHSM2_CONF"] = sandbox.ConfigPath } : [];
}

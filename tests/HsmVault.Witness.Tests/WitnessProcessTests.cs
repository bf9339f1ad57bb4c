using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using HsmVault.Protocol.Fleet;
using HsmVault.Testing;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;
using HsmVault.Transparency.Tests;

namespace HsmVault.Witness.Tests;

/// <summary>hsmvault-witness as its own process: what it answered before a kill -9 is there after the restart.</summary>
[TestClass]
public sealed partial class WitnessProcessTests
{
    private const string Ns = "fleet-test";

    [TestMethod]
    public async Task An_epoch_answered_before_the_process_is_killed_is_there_after_the_restart()
    {
        string state = Directory.CreateTempSubdirectory("hsmvault-witness-process-").FullName;
        using var operatorKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string operatorHex = TestWitness.PublicOf(operatorKey).ToString();
        try
        {
            FleetKeySet a = TestLog.NewFleet("fleet-a");
            FleetKeySet b = TestLog.NewFleet("fleet-b");
            string vkey;
            await using (ChildProcess first = Start(state, operatorHex))
            {
                (Uri url, vkey) = await ReadyAsync(first);
                using var http = new HttpClient { BaseAddress = url };
                var client = new WitnessHttp(http, operatorKey);
                await client.PublishAsync(Ns, 1, a);
                (HttpStatusCode status, string body) = await client.PostAppendAsync(Ns, 2, b);
                Assert.AreEqual(HttpStatusCode.Created, status, body);

                // No shutdown: the process dies the moment the answer is in.
                await first.KillAsync();
            }

            await using ChildProcess second = Start(state, operatorHex);
            (Uri again, string vkeyAgain) = await ReadyAsync(second);
            Assert.AreEqual(vkey, vkeyAgain, "the same witness key");
            using var http2 = new HttpClient { BaseAddress = again };
            var client2 = new WitnessHttp(http2, operatorKey);
            SignedNote note = SignedNote.Parse(await client2.GetAsync(LogPaths.Checkpoint(Ns)));
            note.Verify([NoteVerifierKey.Parse(vkey)]);
            Assert.AreEqual(2, Checkpoint.Parse(note.Text).Size);
            WitnessLogEntry second2 = WitnessLogEntry.Parse(await client2.GetAsync(LogPaths.Entry(Ns, 1)));
            Assert.AreEqual(2, second2.Statement.Epoch);
            CollectionAssert.AreEqual(b.Digest, second2.Statement.FleetKeysDigest);
            Assert.IsNotNull(WitnessLogEntry.Parse(await client2.GetAsync(LogPaths.Entry(Ns, 0))).CounterSignature);
            Assert.AreEqual(HttpStatusCode.Conflict, (await client2.PostAppendAsync(Ns, 2, a)).Status, "epoch 2 is taken");
            await client2.PublishAsync(Ns, 3, TestLog.NewFleet("fleet-c"));
            Assert.AreEqual(0, await second.StopAsync(TimeSpan.FromSeconds(10)), second.Output);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [TestMethod]
    public async Task A_first_start_without_an_operator_key_is_refused_with_a_message()
    {
        string state = Directory.CreateTempSubdirectory("hsmvault-witness-process-").FullName;
        try
        {
            await using ChildProcess witness = ChildProcess.Start("hsmvault-witness", WitnessDll, ["--state", state, "serve", "--port", "0"]);
            for (int i = 0; i < 600 && !witness.HasExited; i++)
            {
                await Task.Delay(50);
            }

            Assert.IsTrue(witness.HasExited, witness.Output);
            StringAssert.Contains(witness.Output, "no operator key is bound to this store yet");
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    private static string WitnessDll
    {
        get
        {
            string own = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
            string path = Path.GetFullPath(Path.Combine(own, "..", "..", "HsmVault.Witness", Path.GetFileName(own), "hsmvault-witness.dll"));
            return File.Exists(path) ? path : throw new FileNotFoundException($"hsmvault-witness is not built at {path}; build the solution first.", path);
        }
    }

    private static ChildProcess Start(string state, string operatorHex) =>
        ChildProcess.Start("hsmvault-witness", WitnessDll, ["--state", state, "serve", "--port", "0", "--operator-key", operatorHex]);

    private static async Task<(Uri Url, string Vkey)> ReadyAsync(ChildProcess process)
    {
        Match ready = await process.WaitForAsync(Ready(), TimeSpan.FromSeconds(60));
        return (new Uri(ready.Groups[1].Value), ready.Groups[2].Value);
    }

    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+/) as (\S+)")]
    private static partial Regex Ready();
}

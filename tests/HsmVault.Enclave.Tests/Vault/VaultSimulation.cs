using System.Security.Cryptography;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>
/// Drives a <see cref="TestVault"/> with random batches of client operations from one seed and
/// checks every answer against a simple model of the vault (who is registered, with which
/// password and blob, how many guesses used). Each round is two batches: starts, then finishes.
/// </summary>
internal sealed class VaultSimulation
{
    private readonly Random _rng;
    private readonly TestVault _vault;
    private readonly List<TestUser> _users;
    private readonly Dictionary<string, ModelRecord> _model = [];
    private readonly int _limit;

    public VaultSimulation(ulong seed, int users, int attemptLimit)
    {
        _rng = new Random((int)seed);
        _limit = attemptLimit;
        _vault = new TestVault(seed, new VaultPolicy(AttemptLimit: attemptLimit));
        _users = [.. Enumerable.Range(0, users).Select(i => new TestUser(_vault, $"sim-user-{i}", seed * 1000 + (ulong)i))];
    }

    public int Operations { get; private set; }

    public byte[] TranscriptDigest()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (byte[] response in _vault.Transcript)
        {
            hash.AppendData(response);
        }

        return hash.GetHashAndReset();
    }

    public void Run(int rounds)
    {
        for (int round = 0; round < rounds; round++)
        {
            RunRound();
        }
    }

    private void RunRound()
    {
        var chosen = _users.OrderBy(_ => _rng.Next()).Take(_rng.Next(1, 9)).ToList();
        var pending = new List<Pending>();
        foreach (TestUser user in chosen)
        {
            int kind = _rng.Next(10);
            if (kind < 2 || !_model.ContainsKey(user.Name) && kind < 5)
            {
                string password = $"pw-{_rng.Next(1000)}";
                pending.Add(new Pending(user, Kind.Register, password, user.RegisterStartRequest(password, out var state), state, null));
            }
            else if (kind < 9)
            {
                bool right = _model.TryGetValue(user.Name, out ModelRecord? record) && _rng.Next(3) > 0;
                string password = right ? record!.Password : "not-the-password";
                LoginAction action = _rng.Next(8) == 0 ? LoginAction.Delete : LoginAction.Recover;
                pending.Add(new Pending(user, action == LoginAction.Delete ? Kind.Delete : Kind.Recover, password, user.LoginStartRequest(password, out var state), null, state));
            }
            else
            {
                pending.Add(new Pending(user, Kind.Status, "", user.StatusRequest(), null, null));
            }
        }

        BatchResult starts = _vault.Submit(pending.Select(p => _vault.OperationFor(p.Request)));
        var finishes = new List<(Pending Pending, UserRequest Request, byte[]? SessionKey)>();
        for (int i = 0; i < pending.Count; i++)
        {
            Operations++;
            Pending p = pending[i];
            OperationResult result = starts.Results[i];
            Assert.AreEqual(OperationOutcome.OutcomeOk, result.Outcome, result.Detail);
            VaultResponse response = _vault.Open(result);
            switch (p.Kind)
            {
                case Kind.Status:
                    CheckStatus(p.User, response);
                    break;
                case Kind.Register:
                    byte[] blob = RandomNumberGeneratorBytes(48);
                    finishes.Add((p with { Password = p.Password, Blob = blob }, p.User.RegisterFinishRequest(p.RegistrationState!, response.RegisterStarted, blob), null));
                    break;
                default:
                    CountGuess(p.User);
                    LoginResult? local = p.User.TryFinishLocally(p.LoginState!, response.LoginStarted);
                    byte[] ke3 = local?.KE3 ?? SHA256.HashData(response.LoginStarted.Ke2.Span);
                    LoginAction action = p.Kind == Kind.Delete ? LoginAction.Delete : LoginAction.Recover;
                    finishes.Add((p, p.User.LoginFinishRequest(response.LoginStarted.LoginSession, ke3, action), local?.SessionKey));
                    break;
            }
        }

        if (finishes.Count == 0)
        {
            return;
        }

        BatchResult finished = _vault.Submit(finishes.Select(f => _vault.OperationFor(f.Request)));
        for (int i = 0; i < finishes.Count; i++)
        {
            Operations++;
            var (p, _, sessionKey) = finishes[i];
            OperationResult result = finished.Results[i];
            Assert.AreEqual(OperationOutcome.OutcomeOk, result.Outcome, result.Detail);
            CheckFinish(p, _vault.Open(result), sessionKey);
        }
    }

    private void CheckStatus(TestUser user, VaultResponse response)
    {
        if (_model.TryGetValue(user.Name, out ModelRecord? record) && record.Used < _limit)
        {
            Assert.AreEqual((uint)(_limit - record.Used), response.Status.AttemptsLeft);
        }
        else
        {
            Assert.AreEqual(ErrorCode.NotRegistered, response.Error.Code);
        }
    }

    private void CountGuess(TestUser user)
    {
        if (_model.TryGetValue(user.Name, out ModelRecord? record))
        {
            if (record.Used >= _limit)
            {
                _model.Remove(user.Name);
            }
            else
            {
                record.Used++;
                record.Session++;
            }
        }
    }

    private void CheckFinish(Pending p, VaultResponse response, byte[]? sessionKey)
    {
        if (p.Kind == Kind.Register)
        {
            Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, response.ResultCase);
            _model[p.User.Name] = new ModelRecord(p.Password, p.Blob!);
            return;
        }

        bool live = _model.TryGetValue(p.User.Name, out ModelRecord? record);
        if (live && sessionKey is not null && record!.Password == p.Password)
        {
            if (p.Kind == Kind.Delete)
            {
                Assert.AreEqual(VaultResponse.ResultOneofCase.Deleted, response.ResultCase);
                _model.Remove(p.User.Name);
            }
            else
            {
                Assert.IsTrue(RecoveredBlobCipher.TryOpen(sessionKey, p.User.UserId.Span, response.Recovered.SealedKeyBlob.Span, out byte[] blob));
                CollectionAssert.AreEqual(record.Blob, blob);
                record.Used = 0;
            }

            return;
        }

        Assert.AreEqual(ErrorCode.AuthFailed, response.Error.Code);
        uint left = live ? (uint)(_limit - record!.Used) : 0;
        Assert.AreEqual(left, response.Error.AttemptsLeft);
        if (live && left == 0)
        {
            _model.Remove(p.User.Name);
        }
    }

    private byte[] RandomNumberGeneratorBytes(int length)
    {
        byte[] bytes = new byte[length];
        _rng.NextBytes(bytes);
        return bytes;
    }

    private enum Kind
    {
        Register,
        Recover,
        Delete,
        Status,
    }

    private sealed record Pending(TestUser User, Kind Kind, string Password, UserRequest Request, ClientRegistrationState? RegistrationState, ClientLoginState? LoginState)
    {
        public byte[]? Blob { get; init; }
    }

    private sealed class ModelRecord(string password, byte[] blob)
    {
        public string Password { get; } = password;

        public byte[] Blob { get; } = blob;

        public int Used { get; set; }

        public int Session { get; set; }
    }
}

using System.Security.Cryptography;
using HsmVault.Client;
using HsmVault.Testing;

namespace HsmVault.Benchmarks;

/// <summary>
/// One load client's user and what it knows of that user's record, and the operations of each mix.
/// Every client has a user of its own, so the right answer to each operation is known: anything
/// else is an error of the answer's type, and a recovered key that is not the user's is a wrong answer.
/// </summary>
internal sealed class LoadWorkload(int index, int seed)
{
    /// <summary>The error type of a recovery that returned a key other than the registered one.</summary>
    public const string WrongKey = "WrongKey";

    private readonly Random _random = new(HashCode.Combine(seed, index));

    // The keys a recovery may return: one, or two while a re-registration's answer was lost.
    private List<byte[]> _keys = [EndToEndBench.Key(index)];

    // A wrong guess was sent: the next operation is a recovery, which resets the count.
    private bool _mustRecover;

    public string User { get; } = EndToEndBench.User(index);

    /// <summary>One operation of <paramref name="mix"/>; null when the answer is the right one, else its type.</summary>
    public async Task<string?> NextAsync(VaultClient client, string mix)
    {
        switch (mix)
        {
            case "register":
                return await RegisterAsync(client).ConfigureAwait(false);
            case "mixed" when !_mustRecover:
                int draw = _random.Next(100);
                return draw switch
                {
                    < 60 => await RecoverAsync(client).ConfigureAwait(false),
                    < 75 => await StatusAsync(client).ConfigureAwait(false),
                    < 90 => await GuessWrongAsync(client).ConfigureAwait(false),
                    _ => await RegisterAsync(client).ConfigureAwait(false),
                };
            default:
                return await RecoverAsync(client).ConfigureAwait(false);
        }
    }

    private async Task<string?> RecoverAsync(VaultClient client)
    {
        VaultOutcome outcome = await client.RecoverAsync(User, EndToEndBench.Password(index)).ConfigureAwait(false);
        if (outcome is not KeyRecovered recovered)
        {
            return BruteForceRun.Kind(outcome);
        }

        using (recovered)
        {
            byte[]? match = _keys.FirstOrDefault(k => k.AsSpan().SequenceEqual(recovered.Key));
            if (match is null)
            {
                return WrongKey;
            }

            _keys = [match];
            _mustRecover = false;
            return null;
        }
    }

    private async Task<string?> RegisterAsync(VaultClient client)
    {
        byte[] key = RandomNumberGenerator.GetBytes(VaultClient.BackupKeyBytes);
        VaultOutcome outcome = await client.RegisterAsync(User, EndToEndBench.Password(index), key).ConfigureAwait(false);
        if (outcome is UserRegistered)
        {
            _keys = [key];
            _mustRecover = false;
            return null;
        }

        // The answer was lost or refused: the record holds the old key or the new one.
        _keys = [.. _keys, key];
        return BruteForceRun.Kind(outcome);
    }

    private async Task<string?> StatusAsync(VaultClient client)
    {
        VaultOutcome outcome = await client.StatusAsync(User).ConfigureAwait(false);
        return outcome is StatusReported ? null : BruteForceRun.Kind(outcome);
    }

    private async Task<string?> GuessWrongAsync(VaultClient client)
    {
        _mustRecover = true;
        byte[] wrong = RandomNumberGenerator.GetBytes(16);
        VaultOutcome outcome = await client.RecoverAsync(User, wrong).ConfigureAwait(false);
        return outcome is WrongPassword ? null : BruteForceRun.Kind(outcome);
    }
}

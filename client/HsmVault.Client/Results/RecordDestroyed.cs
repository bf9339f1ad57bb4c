namespace HsmVault.Client;

/// <summary>
/// The guess was wrong and it was the last allowed one: the vault destroyed the record, and the
/// key can no longer be recovered by anyone. The client reports this only when it saw the record
/// live (through the same <see cref="VaultClient"/>) before the guess; the vault's answer alone is
/// the same as for an unknown user, so without that knowledge the outcome is a plain
/// <see cref="NoRecord"/>. It is a <see cref="NoRecord"/>: from now on there is no live record.
/// </summary>
public sealed record RecordDestroyed : NoRecord
{
    public RecordDestroyed() => AfterFailedGuess = true;

    public override string Describe() =>
        "wrong password, and it was the last allowed attempt: the record is destroyed and the key can no longer be recovered";
}

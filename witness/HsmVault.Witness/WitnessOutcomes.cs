using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Witness;

/// <summary>What an append came to; each kind maps to one HTTP status.</summary>
internal abstract record AppendOutcome;

/// <summary>The epoch is in the log (<paramref name="AlreadyPresent"/>: the same statement was appended before, and is returned again).</summary>
internal sealed record Appended(WitnessLogEntry Entry, SignedNote Checkpoint, bool AlreadyPresent) : AppendOutcome;

/// <summary>Refused: epochs must increase; <paramref name="Newest"/> is the newest epoch in the log.</summary>
internal sealed record EpochNotIncreasing(long Requested, long Newest) : AppendOutcome;

/// <summary>Refused: the append request is not signed by the operator's key.</summary>
internal sealed record AppendNotAuthorized(string Reason) : AppendOutcome;

/// <summary>What a counter-signature submission came to.</summary>
internal abstract record CounterSignOutcome;

/// <summary>The entry carries a valid counter-signature (the one given, or an earlier valid one).</summary>
internal sealed record CounterSigned(WitnessLogEntry Entry) : CounterSignOutcome;

/// <summary>Refused: not the operator's signature of this entry's witness signature.</summary>
internal sealed record CounterSignatureInvalid(long Index) : CounterSignOutcome;

/// <summary>No such namespace or entry.</summary>
internal sealed record EntryNotFound(string Namespace, long Index) : CounterSignOutcome;

namespace HsmVault.Operator;

/// <summary>The witness could not be reached, or answered with something the operator will not counter-sign.</summary>
public sealed class WitnessAnswerException : Exception
{
    public WitnessAnswerException(string message)
        : base(message)
    {
    }

    public WitnessAnswerException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

namespace HsmVault.Operator;

/// <summary>The operator's token cannot be used as asked: missing, wrong PIN, no such key, or a key that is not protected. The message says which; it never holds the PIN.</summary>
public sealed class OperatorTokenException : Exception
{
    public OperatorTokenException(string message)
        : base(message)
    {
    }

    public OperatorTokenException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

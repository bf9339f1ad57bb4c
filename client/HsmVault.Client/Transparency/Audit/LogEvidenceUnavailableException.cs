namespace HsmVault.Client.Transparency.Audit;

/// <summary>The log's source cannot be read (connection refused, a server error, an unreadable file): nothing can be said of the log.</summary>
public sealed class LogEvidenceUnavailableException(string message, Exception? innerException = null) : Exception(message, innerException);

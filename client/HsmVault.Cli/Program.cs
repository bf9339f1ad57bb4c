using HsmVault.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

try
{
    return await HsmVaultCli.RunAsync(args, CliConsole.Process(), cancel.Token);
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("hsmvault: cancelled");
    return 130;
}
catch (Exception ex)
{
    // RunAsync already turns every failure into one line and an exit code; this is the last net,
    // so that no input ever ends in a stack trace and an abort (exit 134).
    Console.Error.WriteLine($"hsmvault: unexpected error ({ex.GetType().Name}): {ex.Message.ReplaceLineEndings(" ")}");
    return CliExitCode.Unexpected;
}

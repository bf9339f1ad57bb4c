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

using HsmVault.Operator;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

return await OperatorCommandLine.RunAsync(args, Console.Out, Console.Error, cancel.Token);

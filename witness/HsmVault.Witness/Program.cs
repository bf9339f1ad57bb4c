using HsmVault.Witness;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

return await WitnessCommandLine.RunAsync(args, Console.Out, Console.Error, cancel.Token);

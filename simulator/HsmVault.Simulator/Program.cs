using HsmVault.Simulator;

return await SimulatorCommandLine.RunAsync(args).ConfigureAwait(false);

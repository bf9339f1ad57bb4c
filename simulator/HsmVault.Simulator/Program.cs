using System.CommandLine;
using HsmVault.Simulator;

return await SimulatorCommandLine.Build().Parse(args).InvokeAsync().ConfigureAwait(false);

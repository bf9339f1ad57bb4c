return await HsmVault.Host.HostProgram.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);

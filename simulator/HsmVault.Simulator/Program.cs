// The simulator process is built with the enclave; this entry point keeps the solution buildable.
Console.Error.WriteLine("hsmvault-simulator: not built yet.");
return 2;

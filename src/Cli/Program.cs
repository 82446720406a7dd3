using NodeFleet.Cli;

return await CliApp.RunAsync(args, CliEnvironment.System());

using System.CommandLine;
using NodeFleet.Cli.Output;
using NodeFleet.Plans;

namespace NodeFleet.Cli.Commands;

/// <summary>
/// `nodefleet plan validate|images`: node plans checked and expanded locally, with no coordinator. Subcommands that
/// talk to the coordinator (apply, diff) join the same group through <see cref="Build"/>.
/// </summary>
public static class PlanCommands
{
    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var plan = new Command("plan", "Check node plans and list the images they pre-pull");
        plan.Subcommands.Add(Validate(env));
        plan.Subcommands.Add(Images(env));
        plan.ShowHelpWhenRun();
        return plan;
    }

    private static Argument<string> FileArgument() => new("FILE") { Description = "Plan file (YAML, kind NodePlan)" };

    private static Command Validate(CliEnvironment env)
    {
        var file = FileArgument();
        var command = new Command("validate", "Check a plan file and report every error with its line");
        command.Arguments.Add(file);
        command.SetGuardedAction(env, async (p, _) =>
        {
            if (await LoadAsync(p.GetValue(file)!, env) is not { } plan) return 1;
            await env.Out.WriteLineAsync(PlanViews.Valid(plan));
            return 0;
        });
        return command;
    }

    private static Command Images(CliEnvironment env)
    {
        var file = FileArgument();
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("images",
            "List the images a plan pre-pulls: spec.images or kubeadm's list for its version, and the sandbox image");
        command.Arguments.Add(file);
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, _) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            if (await LoadAsync(p.GetValue(file)!, env) is not { } plan) return 1;
            var images = PlanImages.Resolve(plan);
            if (format.IsDocument()) Formats.Write(env.Out, PlanViews.ImagesDocument(images), format);
            else foreach (var image in images) await env.Out.WriteLineAsync(image.ToString());
            return 0;
        });
        return command;
    }

    /// <summary>The valid plan in <paramref name="path"/>, or null after printing each error as FILE:LINE: path: message.</summary>
    private static async Task<Protocol.V1.NodePlan?> LoadAsync(string path, CliEnvironment env)
    {
        var result = PlanLoader.LoadFile(path);
        foreach (var error in result.Errors) await env.Error.WriteLineAsync(error.ToString());
        return result.Plan;
    }
}

using System.CommandLine;
using Google.Protobuf;
using NodeFleet.Cli.Output;
using NodeFleet.Labels;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Commands;

/// <summary>`nodefleet cluster add|list|remove`: the Kubernetes clusters whose credentials the coordinator holds.</summary>
public static class ClusterCommands
{
    /// <summary>Larger than any real kubeconfig (a few KiB), small enough to refuse a wrong file before sending it.</summary>
    public const int MaxKubeconfigBytes = 1024 * 1024;

    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var cluster = new Command("cluster", "Manage the Kubernetes clusters the coordinator upgrades nodes in (their kubeconfigs stay on the coordinator)");
        cluster.Subcommands.Add(Add(global, env));
        cluster.Subcommands.Add(List(global, env));
        cluster.Subcommands.Add(Remove(global, env));
        cluster.ShowHelpWhenRun();
        return cluster;
    }

    private static Command Add(GlobalOptions global, CliEnvironment env)
    {
        var name = new Argument<string>("NAME") { Description = "The cluster's name in NodeFleet (nodes name it with the label nodefleet.io/cluster)" };
        var kubeconfig = new Option<string>("--kubeconfig")
        {
            Description = "A kubeconfig for the nodefleet ClusterRole (packaging/kubernetes); the coordinator stores it, nothing prints it",
            HelpName = "FILE",
            Required = true,
        };
        var context = new Option<string>("--context") { Description = "The kubeconfig context to use (default: its current-context)", HelpName = "CONTEXT" };
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("add", "Register a Kubernetes cluster: the kubeconfig must be usable; an API server that does not answer yet is a warning");
        command.Arguments.Add(name);
        foreach (var o in new Option[] { kubeconfig, context, output }) command.Options.Add(o);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var clusterName = p.GetValue(name) ?? "";
            if (LabelSyntax.ClusterNameError(clusterName) is { } error) throw new CliException(error);
            var format = Formats.Parse(p.GetValue(output));
            var request = new AddClusterRequest
            {
                Name = clusterName,
                Kubeconfig = ByteString.CopyFrom(ReadKubeconfig(p.GetValue(kubeconfig) ?? "")),
                Context = p.GetValue(context) ?? "",
            };
            using var connection = global.Connect(p, env);
            var added = await connection.CallAsync(connection.Clusters, (c, o) => c.AddAsync(request, o), ct);
            if (!added.Reachable)
                await env.Error.WriteLineAsync(
                    $"warning: cluster {added.Name} added, but its API server {added.Server} did not answer: {added.Error}; " +
                    "`nodefleet cluster list` shows when it does");
            if (format.IsDocument()) Formats.Write(env.Out, Formats.ToNode(added), format);
            else if (added.Reachable)
                await env.Out.WriteLineAsync(
                    $"cluster {added.Name} added: {added.Server} (context {added.Context}), Kubernetes {added.ServerVersion}, {added.NodeCount} node{(added.NodeCount == 1 ? "" : "s")}");
            else await env.Out.WriteLineAsync($"cluster {added.Name} added: {added.Server} (context {added.Context})");
            return 0;
        });
        return command;
    }

    private static byte[] ReadKubeconfig(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new CliException($"--kubeconfig {path}: no such file");
            if (info.Length > MaxKubeconfigBytes)
                throw new CliException($"--kubeconfig {path}: {info.Length} bytes is more than a kubeconfig ({MaxKubeconfigBytes} at most)");
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length == 0) throw new CliException($"--kubeconfig {path}: the file is empty");
            return bytes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--kubeconfig {path}: {e.Message}");
        }
    }

    private static Command List(GlobalOptions global, CliEnvironment env)
    {
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("list", "List the clusters: reachable, API server version, Kubernetes nodes, NodeFleet nodes linked");
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync(connection.Clusters, (c, o) => c.ListAsync(new ListClustersRequest(), o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.List(response.Clusters), format);
            else if (response.Clusters.Count == 0) await env.Error.WriteLineAsync("No clusters found.");
            else ClusterViews.List(response.Clusters, env.Now).WriteTo(env.Out);
            return 0;
        });
        return command;
    }

    private static Command Remove(GlobalOptions global, CliEnvironment env)
    {
        var name = new Argument<string>("NAME") { Description = "The cluster's name" };
        var force = new Option<bool>("--force") { Description = "Remove it even though NodeFleet nodes still name it" };
        var command = new Command("remove", "Forget a cluster and its kubeconfig (refused while nodes name it, unless --force)");
        command.Arguments.Add(name);
        command.Options.Add(force);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var request = new RemoveClusterRequest { Name = p.GetValue(name) ?? "", Force = p.GetValue(force) };
            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync(connection.Clusters, (c, o) => c.RemoveAsync(request, o), ct);
            if (response.LinkedNodes.Count > 0)
                await env.Error.WriteLineAsync(
                    $"warning: {response.LinkedNodes.Count} node(s) still name cluster {request.Name}: {string.Join(", ", response.LinkedNodes)}");
            await env.Out.WriteLineAsync($"cluster {request.Name} removed");
            return 0;
        });
        return command;
    }
}

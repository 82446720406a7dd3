using NodeFleet.Security;

namespace NodeFleet.Coordinator.Security;

/// <summary>Who may call a gRPC method: anyone (before trust exists), a node, or an operator of at least a role.</summary>
public sealed record Permission(string Kind, OperatorRole MinimumRole = OperatorRole.Admin, string Action = "")
{
    public const string OpenKind = "open";
    public const string NodeKind = "node";
    public const string OperatorKind = "operator";

    public static readonly Permission Open = new(OpenKind);
    public static readonly Permission Node = new(NodeKind);

    /// <param name="action">What the call does, as the refusal says it: "viewer may not start rollouts".</param>
    public static Permission Operator(OperatorRole role, string action) => new(OperatorKind, role, action);
}

/// <summary>
/// The one table of every gRPC method the coordinator serves and who may call it. A method not listed is refused
/// (deny by default): a new method is unreachable until it is given a row here, and a unit test checks that every
/// method of every service has one.
/// </summary>
public static class ApiPermissions
{
    private const OperatorRole Viewer = OperatorRole.Viewer;
    private const OperatorRole Operator = OperatorRole.Operator;
    private const OperatorRole Admin = OperatorRole.Admin;

    private static Permission Op(OperatorRole role, string action) => Permission.Operator(role, action);

    public static readonly IReadOnlyDictionary<string, Permission> Table = new Dictionary<string, Permission>(StringComparer.Ordinal)
    {
        ["/nodefleet.v1.Bootstrap/Discover"] = Permission.Open,
        ["/nodefleet.v1.Bootstrap/Join"] = Permission.Open,
        ["/grpc.health.v1.Health/Check"] = Permission.Open,
        ["/grpc.health.v1.Health/Watch"] = Permission.Open,

        ["/nodefleet.v1.AgentLink/Connect"] = Permission.Node,

        ["/nodefleet.v1.Fleet/GetClusterInfo"] = Op(Viewer, "read the cluster's info"),
        ["/nodefleet.v1.Fleet/ListTokens"] = Op(Viewer, "list tokens"),
        ["/nodefleet.v1.Fleet/ListNodes"] = Op(Viewer, "list nodes"),
        ["/nodefleet.v1.Fleet/GetNode"] = Op(Viewer, "read nodes"),
        ["/nodefleet.v1.Fleet/DescribeNode"] = Op(Viewer, "describe nodes"),
        ["/nodefleet.v1.Fleet/CreateToken"] = Op(Admin, "create tokens"),
        ["/nodefleet.v1.Fleet/DeleteToken"] = Op(Admin, "delete tokens"),
        ["/nodefleet.v1.Fleet/LabelNode"] = Op(Operator, "label nodes"),
        ["/nodefleet.v1.Fleet/DeleteNode"] = Op(Admin, "delete nodes"),
        ["/nodefleet.v1.Fleet/RevokeNode"] = Op(Admin, "revoke node certificates"),
        ["/nodefleet.v1.Fleet/ApplyPlan"] = Op(Operator, "apply plans"),
        // A diff changes nothing, but it runs the plan's checks on the node: an operator's tool.
        ["/nodefleet.v1.Fleet/DiffPlan"] = Op(Operator, "diff plans"),
        ["/nodefleet.v1.Fleet/CancelRun"] = Op(Operator, "cancel runs"),
        ["/nodefleet.v1.Fleet/Backup"] = Op(Admin, "back up the store"),

        ["/nodefleet.v1.Rollouts/Get"] = Op(Viewer, "read rollouts"),
        ["/nodefleet.v1.Rollouts/List"] = Op(Viewer, "list rollouts"),
        ["/nodefleet.v1.Rollouts/Start"] = Op(Operator, "start rollouts"),
        ["/nodefleet.v1.Rollouts/Pause"] = Op(Operator, "pause rollouts"),
        ["/nodefleet.v1.Rollouts/Resume"] = Op(Operator, "resume rollouts"),
        ["/nodefleet.v1.Rollouts/Abort"] = Op(Operator, "abort rollouts"),
        ["/nodefleet.v1.Rollouts/Rollback"] = Op(Operator, "roll back rollouts"),
        ["/nodefleet.v1.Rollouts/Skip"] = Op(Operator, "skip nodes of rollouts"),

        ["/nodefleet.v1.Windows/List"] = Op(Viewer, "list maintenance windows"),
        ["/nodefleet.v1.Windows/Set"] = Op(Operator, "set maintenance windows"),
        ["/nodefleet.v1.Windows/Delete"] = Op(Operator, "delete maintenance windows"),

        ["/nodefleet.v1.Clusters/List"] = Op(Viewer, "list clusters"),
        ["/nodefleet.v1.Clusters/Add"] = Op(Admin, "add clusters"),
        ["/nodefleet.v1.Clusters/Remove"] = Op(Admin, "remove clusters"),

        ["/nodefleet.v1.Events/Watch"] = Op(Viewer, "watch events"),
        ["/nodefleet.v1.Events/List"] = Op(Viewer, "list events"),

        ["/nodefleet.v1.Coordinators/List"] = Op(Viewer, "list coordinators"),

        ["/nodefleet.v1.Admins/Issue"] = Op(Admin, "issue operator certificates"),
        ["/nodefleet.v1.Admins/List"] = Op(Admin, "list operator certificates"),
        ["/nodefleet.v1.Admins/Revoke"] = Op(Admin, "revoke operator certificates"),

        ["/nodefleet.v1.CaRotation/Start"] = Op(Admin, "rotate the CA"),
        ["/nodefleet.v1.CaRotation/Reissue"] = Op(Admin, "rotate the CA"),
        ["/nodefleet.v1.CaRotation/Finish"] = Op(Admin, "rotate the CA"),
        ["/nodefleet.v1.CaRotation/Status"] = Op(Admin, "read the CA rotation"),
        // Each operator renews its own certificate, with its own role.
        ["/nodefleet.v1.OperatorRenewal/Renew"] = Op(Viewer, "renew its certificate"),
    };

    public static Permission? For(string method) => Table.GetValueOrDefault(method);
}

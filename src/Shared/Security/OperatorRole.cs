namespace NodeFleet.Security;

/// <summary>
/// What an operator certificate may do, each role including the one below it: a viewer reads, an operator also changes
/// what runs on nodes (plans, rollouts, labels), an admin also manages trust (tokens, clusters, certificates, operators).
/// Carried in the certificate subject's OU; a certificate with none (issued before roles existed) is an admin.
/// </summary>
public enum OperatorRole
{
    Viewer = 1,
    Operator = 2,
    Admin = 3,
}

/// <summary>The role names used in certificates, on the wire and on the command line.</summary>
public static class OperatorRoles
{
    public const string Viewer = "viewer";
    public const string Operator = "operator";
    public const string Admin = "admin";

    public static string Name(this OperatorRole role) => role switch
    {
        OperatorRole.Viewer => Viewer,
        OperatorRole.Operator => Operator,
        _ => Admin,
    };

    /// <summary>The role named <paramref name="name"/>; null for anything else.</summary>
    public static OperatorRole? Parse(string? name) => name switch
    {
        Viewer => OperatorRole.Viewer,
        Operator => OperatorRole.Operator,
        Admin => OperatorRole.Admin,
        _ => null,
    };

    /// <summary>
    /// The role an operator certificate's OU carries: none (a certificate issued before roles) is admin, and an OU that
    /// names no role is null (refused), never guessed.
    /// </summary>
    public static OperatorRole? OfUnit(string? unit) => unit is null ? OperatorRole.Admin : Parse(unit);
}

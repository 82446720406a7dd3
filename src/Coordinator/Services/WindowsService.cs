using Grpc.Core;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Rollouts.Windows;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>The maintenance windows operator API: a thin adapter over <see cref="WindowService"/>.</summary>
public sealed class WindowsService(WindowService windows) : Protocol.V1.Windows.WindowsBase
{
    public override async Task<Window> Set(SetWindowRequest request, ServerCallContext context) =>
        ToMessage(await windows.SetAsync(request.Name, request.Selector, request.Schedule, request.TimeZone));

    public override Task<ListWindowsResponse> List(ListWindowsRequest request, ServerCallContext context)
    {
        var response = new ListWindowsResponse();
        response.Windows.AddRange(windows.List().Select(ToMessage));
        return Task.FromResult(response);
    }

    public override async Task<DeleteWindowResponse> Delete(DeleteWindowRequest request, ServerCallContext context)
    {
        await windows.DeleteAsync(request.Name);
        return new DeleteWindowResponse();
    }

    private static Window ToMessage(WindowView v)
    {
        var m = new Window
        {
            Name = v.Record.Name, Selector = v.Record.Selector, Schedule = v.Record.Schedule, TimeZone = v.Record.TimeZone,
            CreatedAt = FactsMapping.Ts(v.Record.CreatedAt), UpdatedAt = FactsMapping.Ts(v.Record.UpdatedAt),
            Open = v.Open, Status = v.Status,
        };
        if (v.NextChange is { } t) m.NextChange = FactsMapping.Ts(t);
        return m;
    }
}

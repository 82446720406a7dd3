using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Polly;
using Polly.Retry;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>Timings of a drain that are not the plan's: how often to look, how to back off from a budget's 429.</summary>
public sealed record DrainerOptions
{
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan BlockedRetryDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan BlockedRetryMaxDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Evictions in flight at once (kubectl starts one per pod; a bound keeps a 100-pod node polite).</summary>
    public int Parallelism { get; init; } = 16;

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// Drains a node through the Eviction API (policy/v1), as `kubectl drain` does, resumable: given the node and the
/// last <see cref="DrainProgress"/> again after a crash, it evicts no pod twice (a pod already terminating is only
/// waited for) and its timeout keeps running from the first start. Every observation goes to the caller as it
/// happens, so a blocked eviction can become a DrainBlocked event and progress can be persisted.
/// </summary>
public sealed partial class Drainer(IKubernetes client, DrainerOptions? options = null)
{
    private readonly DrainerOptions _options = options ?? new DrainerOptions();

    public async Task<DrainResult> DrainAsync(string node, DrainSpec spec, DrainProgress? resume = null,
        Func<DrainObservation, CancellationToken, ValueTask>? observe = null, CancellationToken ct = default)
    {
        var time = _options.Time;
        var run = new Run(node, resume is { } r && r.Node == node ? r : DrainProgress.Start(node, time.GetUtcNow()),
            observe ?? ((_, _) => ValueTask.CompletedTask));
        var selection = DrainSelection.Select(await ListAsync(node, spec, ct), spec);
        if (selection.Refused.Count > 0)
            return run.Result(DrainOutcome.Refused, selection, []);

        var targets = selection.ToRemove.ToDictionary(p => p.Metadata.Uid ?? "", DrainSelection.Ref);
        var left = run.Progress.StartedAt + spec.Timeout - time.GetUtcNow();
        using var timeout = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        var remaining = targets.Values.ToList();
        try
        {
            // A terminating pod is already going (evicted before a crash, or by someone else): never evict it again.
            var toEvict = Interleave(selection.ToRemove.Where(p => !DrainSelection.Terminating(p) && !run.Progress.Handled(DrainSelection.Ref(p))));
            await Parallel.ForEachAsync(toEvict, new ParallelOptions { MaxDegreeOfParallelism = _options.Parallelism, CancellationToken = linked.Token },
                (pod, token) => EvictAsync(run, pod, spec, token));
            remaining = await WaitGoneAsync(run, targets, spec, linked.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            remaining = await StillThereAsync(run, targets, spec, ct);
        }
        if (remaining.Count == 0) return run.Result(DrainOutcome.Drained, selection, []);
        if (spec.OnTimeout == DrainOnTimeout.Fail) return run.Result(DrainOutcome.TimedOut, selection, remaining);

        // onTimeout: delete — the budget no longer has a say; each pod still gets the grace period.
        var graces = new List<long>();
        foreach (var pod in remaining.Where(p => !run.Progress.DeletedUids.Contains(p.Uid)))
            graces.Add(await DeleteAsync(run, pod, spec, ct));
        using var afterDelete = new CancellationTokenSource(TimeSpan.FromSeconds(graces.DefaultIfEmpty(0).Max() + 30), time);
        using var linkedDelete = CancellationTokenSource.CreateLinkedTokenSource(ct, afterDelete.Token);
        try
        {
            remaining = await WaitGoneAsync(run, remaining.ToDictionary(p => p.Uid), spec, linkedDelete.Token);
        }
        catch (OperationCanceledException) when (afterDelete.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            remaining = await StillThereAsync(run, targets, spec, ct);
        }
        return run.Result(remaining.Count == 0 ? DrainOutcome.Drained : DrainOutcome.TimedOut, selection, remaining);
    }

    /// <summary>
    /// One pod of each controller in turn: pods of one controller usually share a budget that lets one go at a time,
    /// and the in-flight slots would otherwise all wait on that one budget while the others could proceed.
    /// </summary>
    private static IEnumerable<V1Pod> Interleave(IEnumerable<V1Pod> pods) =>
        pods.GroupBy(p => p.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true) is { } o
                ? $"{p.Metadata.NamespaceProperty}/{o.Kind}/{o.Name}" : p.Metadata.Uid)
            .SelectMany(g => g.Select((pod, i) => (pod, i))).OrderBy(x => x.i).Select(x => x.pod).ToList();

    private async Task<IList<V1Pod>> ListAsync(string node, DrainSpec spec, CancellationToken ct) =>
        (await client.CoreV1.ListPodForAllNamespacesAsync(fieldSelector: $"spec.nodeName={node}",
            labelSelector: spec.PodSelector, cancellationToken: ct)).Items;

    private async ValueTask EvictAsync(Run run, V1Pod pod, DrainSpec spec, CancellationToken ct)
    {
        var target = DrainSelection.Ref(pod);
        var eviction = new V1Eviction
        {
            ApiVersion = "policy/v1", Kind = "Eviction",
            Metadata = new V1ObjectMeta { Name = target.Name, NamespaceProperty = target.Namespace },
            DeleteOptions = spec.GracePeriodSeconds is { } g ? new V1DeleteOptions { GracePeriodSeconds = g } : null,
        };
        var attempts = 0;
        var retry = new ResiliencePipelineBuilder { TimeProvider = _options.Time }.AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(KubeErrors.IsTooManyRequests),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = _options.BlockedRetryDelay,
            MaxDelay = _options.BlockedRetryMaxDelay,
            OnRetry = args => args.Outcome.Exception is { } e ? run.BlockedAsync(Blocked(run.Node, target, e, ++attempts), ct) : ValueTask.CompletedTask,
        }).Build();
        try
        {
            await retry.ExecuteAsync(async token =>
                await client.CoreV1.CreateNamespacedPodEvictionAsync(eviction, target.Name, target.Namespace, cancellationToken: token), ct);
        }
        catch (Exception e) when (KubeErrors.IsNotFound(e))
        {
            return; // gone already: nothing to evict
        }
        await run.RecordAsync(target, evicted: true, ct);
    }

    private async Task<long> DeleteAsync(Run run, PodRef pod, DrainSpec spec, CancellationToken ct)
    {
        try
        {
            // The uid precondition keeps a same-named replacement (a StatefulSet's) from being deleted in its place.
            var deleted = await client.CoreV1.DeleteNamespacedPodAsync(pod.Name, pod.Namespace,
                new V1DeleteOptions { GracePeriodSeconds = spec.GracePeriodSeconds, Preconditions = new V1Preconditions { Uid = pod.Uid } },
                cancellationToken: ct);
            await run.RecordAsync(pod, evicted: false, ct);
            return spec.GracePeriodSeconds ?? deleted?.Spec?.TerminationGracePeriodSeconds ?? 30;
        }
        catch (Exception e) when (KubeErrors.IsNotFound(e) || KubeErrors.Code(e) == System.Net.HttpStatusCode.Conflict)
        {
            return 0;
        }
    }

    /// <summary>Polls the node's pods until none of <paramref name="targets"/> is left (or is past skipWaitForDeleteTimeout).</summary>
    private async Task<List<PodRef>> WaitGoneAsync(Run run, IReadOnlyDictionary<string, PodRef> targets, DrainSpec spec, CancellationToken ct)
    {
        var waiting = targets.Values.ToList();
        while (true)
        {
            var still = await StillThereAsync(run, targets, spec, ct);
            foreach (var gone in waiting.Except(still)) await run.ObserveAsync(new PodGone(run.Node, gone), ct);
            waiting = still;
            if (waiting.Count == 0) return waiting;
            await Task.Delay(_options.PollInterval, _options.Time, ct);
        }
    }

    private async Task<List<PodRef>> StillThereAsync(Run run, IReadOnlyDictionary<string, PodRef> targets, DrainSpec spec, CancellationToken ct)
    {
        var now = _options.Time.GetUtcNow();
        return (await ListAsync(run.Node, spec, ct))
            .Where(p => targets.ContainsKey(p.Metadata.Uid ?? ""))
            // kubectl's --skip-wait-for-delete-timeout: a pod whose deletion was due that long ago is not waited for.
            .Where(p => spec.SkipWaitForDeleteTimeout is not { } skip || p.Metadata.DeletionTimestamp is not { } due
                || new DateTimeOffset(DateTime.SpecifyKind(due, DateTimeKind.Utc)) + skip > now)
            .Select(DrainSelection.Ref).ToList();
    }

    [GeneratedRegex(@"disruption budget (?<name>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)")]
    private static partial Regex BudgetName();

    /// <summary>The budget's name and message from the 429's Status body (details.causes, reason DisruptionBudget).</summary>
    private static EvictionBlocked Blocked(string node, PodRef pod, Exception e, int attempts)
    {
        var body = KubeErrors.ReadStatus((e as k8s.Autorest.HttpOperationException)?.Response?.Content);
        var cause = body?.Causes.FirstOrDefault(c => c.Reason == "DisruptionBudget");
        var message = cause?.Message ?? body?.Message ?? KubeErrors.Describe(e);
        var name = BudgetName().Match(message);
        return new EvictionBlocked(node, pod, name.Success ? name.Groups["name"].Value : null, message, attempts);
    }

    /// <summary>One drain's mutable state, serialised so observations reach the caller one at a time, in order.</summary>
    private sealed class Run(string node, DrainProgress progress, Func<DrainObservation, CancellationToken, ValueTask> observe)
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private readonly ConcurrentDictionary<string, EvictionBlocked> _blocked = new();
        private readonly List<PodRef> _evicted = [], _deleted = [];

        public string Node => node;
        public DrainProgress Progress { get; private set; } = progress;

        public async ValueTask ObserveAsync(DrainObservation o, CancellationToken ct)
        {
            await _gate.WaitAsync(ct);
            try { await observe(o, ct); }
            finally { _gate.Release(); }
        }

        public async ValueTask BlockedAsync(EvictionBlocked b, CancellationToken ct)
        {
            var before = _blocked.TryGetValue(b.Pod.Uid, out var last) ? last : null;
            _blocked[b.Pod.Uid] = b;
            if (before?.Message != b.Message) await ObserveAsync(b, ct);
        }

        public async ValueTask RecordAsync(PodRef pod, bool evicted, CancellationToken ct)
        {
            await _gate.WaitAsync(ct);
            try
            {
                Progress = evicted ? Progress with { EvictedUids = Progress.EvictedUids.Add(pod.Uid) }
                    : Progress with { DeletedUids = Progress.DeletedUids.Add(pod.Uid) };
                (evicted ? _evicted : _deleted).Add(pod);
                _blocked.TryRemove(pod.Uid, out _);
                await observe(evicted ? new PodEvicted(node, pod, Progress) : new PodDeleted(node, pod, Progress), ct);
            }
            finally { _gate.Release(); }
        }

        public DrainResult Result(DrainOutcome outcome, DrainSelection.Selection s, IReadOnlyList<PodRef> remaining) =>
            new(outcome, Progress, _evicted.ToList(), _deleted.ToList(), s.Skipped, s.Refused, remaining,
                remaining.Select(p => _blocked.GetValueOrDefault(p.Uid)).OfType<EvictionBlocked>().ToList());
    }
}

using NodeFleet.Agent.Facts;

namespace NodeFleet.Tests.Agent;

/// <summary>The kubelet's command line as kubeadm's packages make it, read from its files.</summary>
public sealed class KubeletFlagsTests
{
    // kubeadm's 10-kubeadm.conf, as the deb and rpm packages install it.
    private const string KubeadmDropIn = """
        # Note: This dropin only works with kubeadm and kubelet v1.11+
        [Service]
        Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
        Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
        EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
        EnvironmentFile=-/etc/default/kubelet
        ExecStart=
        ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
        """;

    private const string DropInPath = "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf";

    private static string? Override(Dictionary<string, string> files, params string[] dropIns) =>
        KubeletFlags.Value(KubeletFlags.Arguments(p => files.GetValueOrDefault(p), dropIns), "hostname-override");

    [Fact]
    public void Kubeadm_flags_give_the_override_and_extra_args_win_over_them()
    {
        var files = new Dictionary<string, string>
        {
            [DropInPath] = KubeadmDropIn,
            [KubeletFlags.KubeadmFlagsFile] =
                "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --hostname-override=node-a --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n",
        };
        Assert.Equal("node-a", Override(files, DropInPath));
        Assert.Equal("node-a", Override(files)); // without the drop-in: kubeadm's order

        files["/etc/default/kubelet"] = "# extra\nKUBELET_EXTRA_ARGS='--node-ip=10.0.0.5 --hostname-override node-b'\n";
        Assert.Equal("node-b", Override(files, DropInPath));
    }

    [Fact]
    public void A_drop_in_that_replaces_execstart_decides_and_no_flag_means_none()
    {
        var files = new Dictionary<string, string> { [DropInPath] = KubeadmDropIn };
        Assert.Null(Override(files, DropInPath));

        files["/etc/systemd/system/kubelet.service.d/20-name.conf"] =
            "[Service]\nExecStart=\nExecStart=/usr/bin/kubelet \\\n  ${KUBELET_CONFIG_ARGS} --hostname-override=from-unit $KUBELET_KUBEADM_ARGS\n";
        Assert.Equal("from-unit", Override(files, DropInPath, "/etc/systemd/system/kubelet.service.d/20-name.conf"));

        // kubeadm-flags.env comes later on that line: its flag wins.
        files[KubeletFlags.KubeadmFlagsFile] = "KUBELET_KUBEADM_ARGS=\"--hostname-override=from-kubeadm\"";
        Assert.Equal("from-kubeadm", Override(files, DropInPath, "/etc/systemd/system/kubelet.service.d/20-name.conf"));
    }
}

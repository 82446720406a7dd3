using System.Text;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// A recording kubeadm STAND-IN (kubeadm cannot run here: no cluster, no kubelet). A POSIX shell script that accepts
/// exactly the commands NodeFleet runs, as kubeadm's reference has them — `upgrade apply VERSION [--yes|-y]`,
/// `upgrade node`, `join --config FILE` (or `--config=FILE`) — and refuses anything else with kubeadm-like stderr
/// and exit 1. It appends each invocation to <see cref="CallsFile"/>, and writes what kubeadm writes that the next
/// phases rely on: /var/lib/kubelet/config.yaml under the node's root naming the version it was asked for (after
/// join also /etc/kubernetes/kubelet.conf). <see cref="FailWith"/> makes it fail like kubeadm does, on demand.
/// Its state lives outside the node's root, so snapshots of the root see only what kubeadm would write.
/// </summary>
public sealed class KubeadmStandIn
{
    private readonly string _state;

    public KubeadmStandIn(NodeRoot node)
    {
        _state = Path.Combine(node.Scratch, "kubeadm-standin");
        Directory.CreateDirectory(_state);
        Script = Encoding.UTF8.GetBytes(ScriptFor(node.Root, _state));
    }

    /// <summary>The script's bytes: to install under the root, or to serve as a plan artifact named kubeadm.</summary>
    public byte[] Script { get; }

    public string CallsFile => Path.Combine(_state, "calls");

    /// <summary>Each invocation's arguments, space-joined, oldest first.</summary>
    public IReadOnlyList<string> Calls() => File.Exists(CallsFile) ? File.ReadAllLines(CallsFile) : [];

    /// <summary>Installs the stand-in at <paramref name="hostPath"/> under the node's root, mode 0755.</summary>
    public void InstallAt(NodeRoot node, string hostPath = "/usr/bin/kubeadm")
    {
        var path = node.HostPath(hostPath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Script);
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }

    /// <summary>The version `kubeadm upgrade node` finds in the cluster (kubeadm reads it from the kubeadm-config ConfigMap).</summary>
    public void SetClusterVersion(string version) => File.WriteAllText(Path.Combine(_state, "cluster-version"), version);

    /// <summary>Every later call prints kubeadm's progress lines, then <paramref name="stderr"/> on stderr, and exits 1.</summary>
    public void FailWith(string stderr) => File.WriteAllText(Path.Combine(_state, "fail"), stderr);

    private static string ScriptFor(string root, string state) => $$"""
        #!/bin/sh
        # kubeadm STAND-IN for NodeFleet's tests: not kubeadm. Checks its arguments, records the call, writes what
        # kubeadm would write that later phases read.
        root='{{root}}'
        state='{{state}}'
        echo "$*" >> "$state/calls"
        refuse() { echo "Error: $1" >&2; [ -n "$2" ] && printf 'Usage:\n  %s [flags]\n' "$2" >&2; echo "To see the stack trace of this error execute with --v=5 or higher" >&2; exit 1; }
        fail_if_asked() {
          if [ -e "$state/fail" ]; then
            echo "[$1] Reading configuration from the cluster..."
            echo "[$1] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'"
            cat "$state/fail" >&2
            exit 1
          fi
        }
        kubelet_config() {
          mkdir -p "$root/var/lib/kubelet"
          printf 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n# written by the kubeadm stand-in (%s) for %s\n' "$1" "$2" > "$root/var/lib/kubelet/config.yaml"
        }
        case "$1" in
          upgrade)
            sub="$2"; [ $# -ge 2 ] && shift 2 || shift $#
            case "$sub" in
              apply)
                version=""; yes=""
                for a in "$@"; do
                  case "$a" in
                    -y|--yes) yes=1 ;;
                    -*) refuse "unknown flag: $a" "kubeadm upgrade apply [version]" ;;
                    *) [ -n "$version" ] && refuse "accepts at most 1 arg(s), received 2" "kubeadm upgrade apply [version]"; version="$a" ;;
                  esac
                done
                [ -n "$version" ] || refuse "missing one or more required arguments. Required arguments: [version]" "kubeadm upgrade apply [version]"
                echo "$version" | grep -Eq '^v?[0-9]+\.[0-9]+\.[0-9]+$' || { echo "[upgrade/version] FATAL: the version argument is invalid due to these errors: unable to parse \"$version\"" >&2; exit 1; }
                fail_if_asked upgrade/config
                if [ -z "$yes" ]; then
                  echo "[upgrade] Are you sure you want to proceed? [y/N]: "
                  echo "error execution phase preflight: won't proceed; the user didn't answer (Y|y) in order to continue" >&2
                  exit 1
                fi
                echo "$version" > "$state/cluster-version"
                kubelet_config "upgrade apply" "$version"
                echo "[upgrade] SUCCESS! A control plane node of your cluster was upgraded to \"$version\"."
                ;;
              node)
                [ $# -eq 0 ] || refuse "unknown flag: $1" "kubeadm upgrade node"
                fail_if_asked upgrade
                version=$(cat "$state/cluster-version" 2>/dev/null || echo unknown)
                kubelet_config "upgrade node" "$version"
                echo "[upgrade] The configuration for this node was successfully upgraded!"
                ;;
              "") refuse "missing subcommand: apply, diff, node or plan" "kubeadm upgrade" ;;
              *) refuse "unknown command \"$sub\" for \"kubeadm upgrade\"" ;;
            esac
            ;;
          join)
            shift
            config=""
            while [ $# -gt 0 ]; do
              case "$1" in
                --config) [ $# -ge 2 ] || refuse "flag needs an argument: --config" "kubeadm join [api-server-endpoint]"; config="$2"; shift 2 ;;
                --config=*) config="${1#--config=}"; shift ;;
                -*) refuse "unknown flag: $1" "kubeadm join [api-server-endpoint]" ;;
                *) refuse "this stand-in takes the join configuration from --config only, got argument \"$1\"" ;;
              esac
            done
            [ -n "$config" ] || refuse "this stand-in needs --config FILE (a JoinConfiguration)"
            [ -r "$root$config" ] || { echo "unable to read config from \"$config\": open $config: no such file or directory" >&2; exit 1; }
            grep -q '^kind: JoinConfiguration' "$root$config" || { echo "no JoinConfiguration kind was found in the YAML file $config" >&2; exit 1; }
            fail_if_asked preflight
            mkdir -p "$root/etc/kubernetes"
            echo "# kubelet kubeconfig written by the kubeadm stand-in" > "$root/etc/kubernetes/kubelet.conf"
            kubelet_config join "$(cat "$state/cluster-version" 2>/dev/null || echo unknown)"
            echo "This node has joined the cluster."
            ;;
          "") refuse "missing command" "kubeadm [command]" ;;
          *) refuse "unknown command \"$1\" for \"kubeadm\"" ;;
        esac
        exit 0
        """.Replace("\r", "");
}

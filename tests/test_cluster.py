"""Cluster edition pieces that need no root: server names, placement, Mininet's placer, check on an
unreachable server, and the CLI's one-line errors (issue 18)."""
from __future__ import annotations

import pytest

from conftest import run_cli
from topo.cluster.check import check_server
from topo.cluster.errors import ClusterError
from topo.cluster.mininet_cluster import load
from topo.cluster.placement import Placement, parse_placement, placer_for
from topo.cluster.servers import LOCAL, Server, parse_servers, ssh_options
from topo.errors import TopoError


def test_cluster_edition_loads_from_debians_examples():
    cluster = load()
    assert cluster.__name__ == "mininet.examples.cluster"
    for name in ("RemoteMixin", "RemoteLink", "Placer", "MininetCluster"):
        assert hasattr(cluster, name)


def test_servers_parse_and_localhost_is_this_machine():
    servers = parse_servers("localhost, 10.254.2.2,admin@10.1.2.3")
    assert [s.name for s in servers] == [LOCAL, "10.254.2.2", "10.1.2.3"]
    assert servers[0].is_local and not servers[1].is_local
    assert servers[2].user == "admin" and servers[1].user == "root"
    assert servers[1].ssh_argv("true")[-2:] == ["root@10.254.2.2", "true"]


@pytest.mark.parametrize("text, said", [(",", "names no server"), ("10.0.0.1,10.0.0.1", "twice"),
                                        ("no-such-host.invalid", "does not resolve")])
def test_bad_servers_say_what_to_do(text, said):
    with pytest.raises(ClusterError, match=said):
        parse_servers(text)


def test_ssh_uses_the_project_key_and_known_hosts_never_home():
    options = " ".join(ssh_options())
    assert ".cache/cluster/id_ed25519" in options and ".cache/cluster/known_hosts" in options
    assert "BatchMode=yes" in options and "/root/.ssh" not in options


def test_placement_by_index_or_name_and_the_rest_on_server1():
    servers = [Server(LOCAL, "127.0.0.1"), Server("10.254.2.2", "10.254.2.2"), Server("b", "10.0.0.9")]
    placement = parse_placement("cloud=server2, edge=b")
    assert placement.server_of("cloud", servers) == servers[1]
    assert placement.server_of("edge", servers) == servers[2]
    assert placement.server_of("bs", servers) == servers[0]
    placer = placer_for(placement, servers)(servers=[s.name for s in servers], hosts=["cloud", "edge", "bs"],
                                            switches=["ectwan", "cloud"])
    assert placer.place("cloud") == "10.254.2.2" and placer.place("bs") == LOCAL
    assert placer.place("ectwan") == LOCAL  # switches and emulator wires stay on server 1


@pytest.mark.parametrize("text, hosts, said", [
    ("cloud", ["cloud"], "write HOST=SERVER"), ("cloud=server3", ["cloud"], "there are 2 servers"),
    ("cloud=elsewhere", ["cloud"], "no such server"), ("fog=server2", ["cloud"], "no host 'fog'"),
    ("cloud=server2,cloud=server1", ["cloud"], "twice")])
def test_bad_placements_say_what_to_do(text, hosts, said):
    servers = [Server(LOCAL, "127.0.0.1"), Server("s2", "10.0.0.2")]
    with pytest.raises(ClusterError, match=said):
        parse_placement(text).check(hosts, servers)


def test_cluster_errors_are_user_errors():
    assert issubclass(ClusterError, TopoError)
    assert Placement().server_of("anything", [Server(LOCAL, "127.0.0.1")]).is_local


def test_check_of_an_unreachable_server_is_one_line_naming_the_key():
    report = check_server(Server("127.0.0.1", "127.0.0.1"))  # no sshd on this machine's loopback
    assert not report.ready and len(report.lines()) == 1
    assert "ssh to root@127.0.0.1" in report.lines()[0] and "id_ed25519.pub" in report.lines()[0]


def test_cli_cluster_check_exits_1_with_one_line_per_problem():
    result = run_cli("cluster", "check", "--servers", "127.0.0.1", timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip().splitlines() == [l for l in result.stdout.strip().splitlines()
                                                  if l.startswith("127.0.0.1: ssh to root@127.0.0.1")]
    assert len(result.stdout.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_cli_cluster_bad_servers_is_one_error_line():
    result = run_cli("cluster", "check", "--servers", ",", timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --servers ',' names no server: give host names or addresses, comma-separated"]


def test_clean_runs_the_cluster_cleanup_before_it_deletes_namespaces():
    import inspect

    from topo import cleanup

    source = inspect.getsource(cleanup.clean)
    assert "clean_dead_runs(dead)" in source
    assert source.index("clean_dead_runs(dead)") < source.index('"netns", "del"')  # a test server's processes first


def test_a_network_folder_maps_to_its_run_folder():
    from pathlib import Path

    from topo.cluster.session import results_root

    assert results_root(Path("/r/20260101T000000Z-compare/logs/lte")) == Path("/r/20260101T000000Z-compare")
    assert results_root(Path("/tmp/ect-run-x")) == Path("/tmp/ect-run-x")


def test_a_cluster_run_starts_on_this_machine_and_only_once():
    from topo.cluster.session import active_cluster, using_cluster

    with pytest.raises(ClusterError, match="first of --servers must be localhost"):
        with using_cluster([Server("10.0.0.2", "10.0.0.2")], Placement()):
            pass
    with pytest.raises(ClusterError, match="active already"):
        with using_cluster([Server(LOCAL, "127.0.0.1")], Placement()):
            assert active_cluster() is not None
            with using_cluster([Server(LOCAL, "127.0.0.1")], Placement()):
                pass
    assert active_cluster() is None


def test_cli_compare_place_without_servers_is_one_line():
    result = run_cli("compare", "--place", "cloud=server2", timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "error: --place needs --servers (the servers to place hosts on)"


def test_cli_compare_with_an_unready_server_names_it_before_anything_is_built():
    result = run_cli("compare", "--servers", "localhost,127.0.0.2", "--place", "cloud=server2", timeout=60)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: 1 problem(s) with --servers: 127.0.0.2: ssh to root@127.0.0.2"), line

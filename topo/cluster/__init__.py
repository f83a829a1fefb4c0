"""Several servers, one experiment: Mininet's cluster edition with Linux bridges and VXLAN (DESIGN.md,
"Scale beyond one machine").

- :mod:`topo.cluster.mininet_cluster` loads Debian's ``mininet/examples/cluster.py`` (placement, remote nodes);
- :mod:`topo.cluster.servers` names the servers and how ssh reaches them (the project's own key);
- :mod:`topo.cluster.test_server` is a second "server" on this machine: sshd in a network namespace;
- :mod:`topo.cluster.check` verifies a server, one line per problem;
- :mod:`topo.cluster.vxlan_link` carries a cross-server link over VXLAN, shaped by the userspace emulator;
- :mod:`topo.cluster.cleanup` removes what a crashed cluster run left on every server.
"""

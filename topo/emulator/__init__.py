"""The userspace trace-driven link emulator (Mahimahi-style), one process per shaped link.

Modules, one concept each: ``packet`` (arrival time + bytes), ``queue_discipline``
(droptail / drophead), ``rate_schedule`` (unlimited, constant, trace opportunities),
``delay_line`` (delay, jitter, delay trace), ``loss`` (Bernoulli, Gilbert-Elliott),
``direction_shaper`` (the pipeline, clock injected), ``recorders`` (summary CSV,
Mahimahi logs), ``packet_socket`` and ``io_loop`` (raw sockets, the real clock),
``config`` (the process's JSON config), ``netns_path`` (a namespace test path).
Run as ``python -m topo.emulator --config CONFIG.json``.
"""

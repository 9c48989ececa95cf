"""Hubbub's benchmark harness (issue 7). `python -m bench.run_all` runs every scenario against
Hubbub and its peers and writes BENCHMARKS.md; each scenario also runs alone:

    python -m bench.scenarios.direct --target hubbub --pairs 200 --duration 15
    python -m bench.scenarios.direct --target hubbub --mode open --rate 10000
    python -m bench.scenarios.fanout --target hubbub --members 1000
    python -m bench.scenarios.idle --target hubbub --sockets 19000
    python -m bench.scenarios.logins --logins 50

Modules: load (the load generator), metrics (percentiles, /proc), servers (databases and
server processes), targets (Hubbub or a peer, with its users), peers/ (the peer servers),
scenarios/ (one module per scenario), report (BENCHMARKS.md). Tools run by hand: procedure_cost
(the database's CPU per message of the group commit's CALL, by batch size, beside the floor's
INSERT), send_path_pieces, socket_memory, profile, soak, cluster."""

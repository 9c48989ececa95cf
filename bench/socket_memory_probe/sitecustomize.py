"""Loaded by a server that `python -m bench.socket_memory` starts (this directory first on its
PYTHONPATH), and only when BENCH_MEMPROBE_DIR is set: a thread that, for each file
`<name>.go` appearing in that directory, starts tracemalloc (`start`) or dumps a snapshot of the
Python allocations to `<name>.snap`, then writes `<name>.done`. Tracing starts after the imports
(tracing them would slow the start past the bench's patience)."""

import os

_DIR = os.environ.get("BENCH_MEMPROBE_DIR")
if _DIR:
    import gc
    import threading
    import time
    import tracemalloc

    def _serve(directory: str) -> None:
        while True:
            time.sleep(0.2)
            for entry in os.listdir(directory):
                if not entry.endswith(".go"):
                    continue
                name = entry[: -len(".go")]
                os.unlink(os.path.join(directory, entry))
                if name == "start":
                    tracemalloc.start(int(os.environ.get("BENCH_MEMPROBE_FRAMES", "12")))
                else:
                    gc.collect()
                    tracemalloc.take_snapshot().dump(os.path.join(directory, f"{name}.snap"))
                open(os.path.join(directory, f"{name}.done"), "w").close()

    threading.Thread(target=_serve, args=(_DIR,), daemon=True, name="bench-memprobe").start()

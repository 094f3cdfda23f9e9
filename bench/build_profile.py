"""Build a Sluice profile with generated mail in a local account, without a server.

Run as ``python -m bench.build_profile HOME SIZE SEED``; it prints one JSON
object with the timings. The benchmarks start it as a child process, so its
peak RSS is measured on its own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ACCOUNT = "bench"


def build(home: Path, size: int, seed: int) -> dict[str, float]:
    """Import ``size`` generated messages into a new profile at ``home`` and index them."""
    from desktop import mailgen
    from desktop.config import Account, load_config, save_config
    from desktop.demo import import_messages
    from desktop.index import SearchIndex
    from desktop.index.builder import update_index
    from desktop.paths import profile_at
    from desktop.store import Store

    profile = profile_at(home).ensure()
    config = load_config(profile.config_file)
    config.accounts[ACCOUNT] = Account(name=ACCOUNT, kind="local", address=mailgen.USER_ADDR)
    save_config(config, profile.config_file)

    started = time.perf_counter()
    messages = list(mailgen.generate(size, seed=seed))
    generate_seconds = time.perf_counter() - started

    with Store(profile.store_file) as store:
        started = time.perf_counter()
        imported = import_messages(store, ACCOUNT, messages)
        import_seconds = time.perf_counter() - started
        del messages

        index = SearchIndex(profile.index_dir)
        try:
            started = time.perf_counter()
            for _step in update_index(store, index):
                pass
            index_seconds = time.perf_counter() - started
            documents = index.doc_count()
        finally:
            index.close()
    return {
        "messages": imported,
        "documents": documents,
        "generate_s": generate_seconds,
        "import_s": import_seconds,
        "index_s": index_seconds,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m bench.build_profile HOME SIZE SEED", file=sys.stderr)
        return 2
    home, size, seed = Path(argv[0]), int(argv[1]), int(argv[2])
    print(json.dumps(build(home, size, seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

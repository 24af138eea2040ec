"""sha256 throughput of `warden inspect` (HashCache -> sha256_file, streamed) against coreutils `sha256sum`.

Run: .venv/bin/python bench/hash.py [--size-mb 1024] [--repeats 3] [--json]
Writes a file of the given size into a temporary folder, reads it once so both sides start from the page cache,
then times each side `repeats` times and keeps the best. The ratio is ours / sha256sum (higher is better).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from weightwarden.inspect.hashing import hash_files
from weightwarden.runtimes.artifact import HashCache

BLOCK = 64 << 20


def make_file(path: Path, size: int) -> None:
    block = os.urandom(BLOCK)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, BLOCK)])
            left -= BLOCK


def ours(path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    digest = hash_files([(path.name, path)], HashCache(None))[path.name]  # the path inspect_model takes, no cache file
    return time.perf_counter() - started, digest


def coreutils(path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - started, out.split()[0]


def openssl(path: Path) -> tuple[float, str]:
    """A second baseline: OpenSSL's sha256 (SHA-NI where the CPU has it), which Python's hashlib also uses."""
    started = time.perf_counter()
    cmd = ["openssl", "dgst", "-sha256", "-r", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - started, out.split()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if shutil.which("sha256sum") is None:
        raise SystemExit("sha256sum is not installed: it is the baseline (apt-get install coreutils)")
    size = args.size_mb << 20
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        path = Path(tmp) / "weights.bin"
        make_file(path, size)
        coreutils(path)  # warm the page cache for both sides
        ours_s, ours_hex = min(ours(path) for _ in range(args.repeats))
        base_s, base_hex = min(coreutils(path) for _ in range(args.repeats))
        ossl = min(openssl(path) for _ in range(args.repeats)) if shutil.which("openssl") else None
    if ours_hex != base_hex or (ossl and ossl[1] != base_hex):
        raise SystemExit(f"digests differ: ours {ours_hex}, sha256sum {base_hex}")
    result = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "size_mb": args.size_mb,
        "ours_mb_s": round(args.size_mb / ours_s, 1),
        "sha256sum_mb_s": round(args.size_mb / base_s, 1),
        "ratio": round(base_s / ours_s, 3),
        "openssl_mb_s": round(args.size_mb / ossl[0], 1) if ossl else None,
        "ratio_vs_openssl": round(ossl[0] / ours_s, 3) if ossl else None,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"file: {args.size_mb} MB, best of {args.repeats}, page cache warm")
        print(f"weightwarden (sha256_file via HashCache): {result['ours_mb_s']:>8.1f} MB/s")
        print(f"sha256sum (coreutils):                    {result['sha256sum_mb_s']:>8.1f} MB/s")
        print(f"ratio ours / sha256sum:                   {result['ratio']:>8.3f}  (target >= 0.9)")
        if ossl:
            print(f"openssl dgst -sha256 (second baseline):   {result['openssl_mb_s']:>8.1f} MB/s")
            print(f"ratio ours / openssl:                     {result['ratio_vs_openssl']:>8.3f}")


if __name__ == "__main__":
    main()

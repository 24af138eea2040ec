"""`warden` starts without the heavy libraries: SciPy, torch, transformers, scikit-learn and llama.cpp are imported
by the commands that use them, not by the entry point. Each is a second or more of start-up, paid by every `warden
--help`, every shell completion and every CLI call in a CI script; the check counts imports, not seconds."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("scipy", "torch", "transformers", "sklearn", "llama_cpp", "onnxruntime", "pandas", "fastapi", "openai")


def test_the_entry_point_leaves_the_heavy_libraries_to_the_commands() -> None:
    code = (
        "import json, sys; import weightwarden.cli.main; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout) == []

"""On-device against cloud: one workload (chat prompts and a fixed eval subset) against any list of backends (local
llama.cpp, local transformers, any OpenAI-compatible endpoint): generated tokens/s and time to first token at 1 and N
concurrent clients, quality paired against the first backend, and cost per million tokens with its source.

from weightwarden.bench import Workload, parse_backend, run_bench
"""

from weightwarden.bench.backends import BackendSpec, parse_backend
from weightwarden.bench.energy import Cost, EnergyMeter
from weightwarden.bench.run import RUN_KIND, BackendResult, BenchResult, parse_prices, run_bench
from weightwarden.bench.workload import EVAL_TASKS, Workload, chat_prompts

__all__ = [
    "EVAL_TASKS",
    "RUN_KIND",
    "BackendResult",
    "BackendSpec",
    "BenchResult",
    "Cost",
    "EnergyMeter",
    "Workload",
    "chat_prompts",
    "parse_backend",
    "parse_prices",
    "run_bench",
]

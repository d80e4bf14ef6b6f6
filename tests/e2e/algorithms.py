"""The algorithms the end-to-end tests run, each written once, and how to apply them.

A test module applies the ones it needs with the `algorithm_factory` fixture (a module with
a cluster of its own makes one with `algorithm_applier`) under names of its own, e.g.
`algorithm_factory("e2e-echo", ECHO)`, so modules never share a worker or a build. Sources
that differ only in a number or a condition are made by a small function.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.harness import Cluster


@dataclass(frozen=True)
class Source:
    """An algorithm's code: one file, the entry point of its environment."""

    code: str
    env: str = "python"

    @property
    def entry_point(self) -> str:
        return "main.py" if self.env == "python" else "index.js"

    @property
    def files(self) -> dict[str, str]:
        return {self.entry_point: self.code}


def python(*lines: str) -> Source:
    return Source("".join(f"{line}\n" for line in lines))


def nodejs(*lines: str) -> Source:
    return Source("".join(f"{line}\n" for line in lines), env="nodejs")


# --- answers ---------------------------------------------------------------------------------

# The whole input list, as it was resolved.
ECHO = python("def start(args):", "    return args['input']")
# The first input.
FIRST = python("def start(args):", "    return args['input'][0]")
DOUBLE = python("def start(args):", "    return args['input'][0] * 2")
# A string of as many x as the first input says: big results.
BIG = python("def start(args):", "    return 'x' * args['input'][0]")
# Node.js: the sum of the first input (a list).
JS_SUM = nodejs("module.exports.start = async (args) =>", "  args.input[0].reduce((a, b) => a + b, 0);")


def sleeps_then_first(seconds: float | str) -> Source:
    """Sleeps `seconds` (a number, or a Python expression over `args`), then returns the first input."""
    return python(
        "import time",
        "def start(args):",
        f"    time.sleep({seconds})",
        "    return args['input'][0]",
    )


# Sleeps as long as the first input says.
SLEEPS = sleeps_then_first("args['input'][0]")
# A random 0 to 20 ms: items of a batch end out of order.
JITTERED_FIRST = python(
    "import random, time",
    "def start(args):",
    "    time.sleep(random.random() / 50)",
    "    return args['input'][0]",
)
# Sleeps the first input's seconds and tells when it started and ended.
TIMED_SLEEP = python(
    "import time",
    "def start(args):",
    "    began = time.time()",
    "    time.sleep(args['input'][0])",
    "    return {'started': began, 'ended': time.time()}",
)
# Which worker ran it, and which GPUs it was given.
WHO = python(
    "import os, time",
    "def start(args):",
    "    return {'started': time.time(), 'worker': os.environ.get('HKUBE_WORKER_ID'),",
    "            'gpus': os.environ.get('CUDA_VISIBLE_DEVICES')}",
)
# Reports progress, then sleeps the first input's seconds.
PROGRESS = python(
    "import time",
    "def start(args, hkube_api):",
    "    hkube_api.progress(50, 'half')",
    "    time.sleep(float(args['input'][0]))",
    "    return 'done'",
)
# Runs until HKube's stop reaches it; the marker file (first input) says where it is.
STOPPABLE = python(
    "import pathlib, time",
    "stopped = False",
    "def start(args):",
    "    marker = pathlib.Path(args['input'][0])",
    "    marker.write_text('running')",
    "    while not stopped:",
    "        time.sleep(0.01)",
    "    marker.write_text('stopped')",
    "def stop(data):",
    "    global stopped",
    "    stopped = True",
)
# input: [marker file, seconds to sleep, *values]; returns 1 + the sum of the values
# (lists summed), so every node's result depends on its parents'. Each run adds a line to
# the marker file.
STEP = python(
    "import time",
    "def start(args):",
    "    marker, pause, *values = args['input']",
    "    with open(marker, 'a') as out:",
    "        out.write('run\\n')",
    "    time.sleep(pause)",
    "    return 1 + sum(sum(v) if isinstance(v, list) else v for v in values)",
)

# --- failures --------------------------------------------------------------------------------

ALWAYS_FAILS = python("def start(args):", "    raise ValueError('bad input: ' + repr(args['input']))")


def fails_when(condition: str, message: str) -> Source:
    """Returns its first input (`value`), or raises ValueError(message) where `condition` holds.

    Both are Python expressions over `value`.
    """
    return python(
        "def start(args):",
        "    value = args['input'][0]",
        f"    if {condition}:",
        f"        raise ValueError({message})",
        "    return value",
    )


# Echoes its input; fails on the input ["fail"].
ECHO_OR_REFUSE = python(
    "def start(args):",
    "    if args['input'] == ['fail']:",
    "        raise ValueError('refused: ' + repr(args['input']))",
    "    return args['input']",
)
# Killed (SIGKILL) the first time, when the marker file (first input) does not exist yet.
CRASHES_ONCE = python(
    "import os, pathlib, signal",
    "def start(args):",
    "    marker = pathlib.Path(args['input'][0])",
    "    if not marker.exists():",
    "        marker.write_text('crashed once')",
    "        os.kill(os.getpid(), signal.SIGKILL)",
    "    return 'survived'",
)
# Hangs two minutes the first time, when the marker file (first input) does not exist yet.
HANGS_FIRST_TIME = python(
    "import pathlib, time",
    "def start(args):",
    "    marker = pathlib.Path(args['input'][0])",
    "    if not marker.exists():",
    "        marker.write_text('running')",
    "        time.sleep(120)",
    "    return 'second run'",
)
# Touches 300 MiB: over a small memory limit.
HOG = python(
    "import time",
    "def start(args):",
    "    block = bytearray(300 << 20)",
    "    for i in range(0, len(block), 4096):",
    "        block[i] = 1",
    "    time.sleep(5)",
    "    return len(block)",
)

# --- logs ------------------------------------------------------------------------------------

PRINTS = python(
    "import sys",
    "print('module loaded')",  # at start-up, before any task: kept with the first task, as idle
    "def start(args):",
    "    value = args['input'][0]",
    "    print(f'out {value}')",
    "    print(f'err {value}', file=sys.stderr)",
    "    print(f'no newline {value}', end='')",
    "    return value * 10",
)
# Prints, then fails two frames deep: a traceback to keep.
FAILS_IN_A_HELPER = python(
    "def helper(value):",
    "    raise ValueError(f'cannot handle {value}')",
    "def start(args):",
    "    print('about to fail')",
    "    helper(args['input'][0])",
)
DIES = python(
    "import os, sys",
    "def start(args):",
    "    print('dying now', file=sys.stderr, flush=True)",
    "    os._exit(3)",
)

# --- sub-pipelines ---------------------------------------------------------------------------

# Starts the sub-pipeline its first input describes (kind stored or raw) and returns its result.
SUBPIPELINE_PARENT = python(
    "def start(args, api):",
    "    spec = args['input'][0]",
    "    if spec['kind'] == 'stored':",
    "        return api.start_stored_subpipeline(spec['name'], spec['flowInput'])",
    "    return api.start_raw_subpipeline(spec['name'], spec['nodes'], spec['flowInput'])",
)
# Echoes its input; ["fail"] fails it, ["sleep"] waits until stopped.
SUBPIPELINE_CHILD = python(
    "import threading",
    "stopped = threading.Event()",
    "def start(args):",
    "    if args['input'] == ['fail']:",
    "        raise ValueError('child refused')",
    "    if args['input'] == ['sleep']:",
    "        stopped.wait(60)",
    "        stopped.clear()",
    "        return 'woke'",
    "    return args['input']",
    "def stop(data):",
    "    stopped.set()",
)


# --- stream pipelines (docs/streaming.md) ---------------------------------------------------

# Stateful: sends input[0] numbered messages {"n": n}, cycling through the flows in input[1]
# (None: the default flow), then waits for its stop.
STREAM_SOURCE = python(
    "import threading",
    "stopped = threading.Event()",
    "def start(args, api):",
    "    stopped.clear()",
    "    count = args['input'][0]",
    "    flows = args['input'][1] if len(args['input']) > 1 else None",
    "    for n in range(count):",
    "        api.send_message({'n': n}, flows[n % len(flows)] if flows else None)",
    "    stopped.wait()",
    "    return 'source stopped'",
    "def stop(data):",
    "    stopped.set()",
)
# Stateful: asks a batch algorithm (input[0]) to double 21 in a sub-pipeline (the code API
# inside a stream task) and sends {'n': 21, 'value': <its result>}.
STREAM_ASKING_SOURCE = python(
    "import threading",
    "stopped = threading.Event()",
    "def start(args, api):",
    "    stopped.clear()",
    "    node = {'nodeName': 'one', 'algorithmName': args['input'][0], 'input': [21]}",
    "    results = api.start_raw_subpipeline('from-a-stream', [node], {})",
    "    api.send_message({'n': 21, 'value': results[0]['result']})",
    "    stopped.wait()",
    "    return 'source stopped'",
    "def stop(data):",
    "    stopped.set()",
)
# Stateless: called once per message; sleeps input[0] seconds (if given), doubles.
STREAM_DOUBLE = python(
    "import time",
    "def start(args):",
    "    if args['input']:",
    "        time.sleep(args['input'][0])",
    "    message = args['streamInput']['message']",
    "    return {'n': message['n'], 'value': message['n'] * 2}",
)
# Stateful: listens until input[0] messages came; returns what it saw per origin: how many,
# how many distinct numbers, whether in order, and whether doubled values are right.
STREAM_SINK = python(
    "import threading",
    "stopped = threading.Event()",
    "def start(args, api):",
    "    stopped.clear()",
    "    wanted = args['input'][0]",
    "    seen = {}",
    "    enough = threading.Event()",
    "    total = [0]",
    "    def on_message(message, origin):",
    "        seen.setdefault(origin, []).append(message)",
    "        total[0] += 1",
    "        if total[0] >= wanted:",
    "            enough.set()",
    "    api.register_input_listener(on_message)",
    "    api.start_message_listening()",
    "    while not enough.wait(0.05) and not stopped.is_set():",
    "        pass",
    "    report = {}",
    "    for origin, messages in seen.items():",
    "        numbers = [m['n'] for m in messages]",
    "        report[origin] = {",
    "            'count': len(numbers),",
    "            'distinct': len(set(numbers)),",
    "            'inOrder': numbers == sorted(numbers),",
    "            'doubled': all(m.get('value', m['n'] * 2) == m['n'] * 2 for m in messages),",
    "        }",
    "    return report",
    "def stop(data):",
    "    stopped.set()",
)


# The same three written for HKube's published Python wrapper (hkubeApi.sendMessage,
# registerInputListener, startMessageListening; the stateless start per message).
HKUBE_STREAM_SOURCE = python(
    "import time",
    "active = [True]",
    "def start(args, hkubeApi):",
    "    active[0] = True",
    "    for n in range(args['input'][0]):",
    "        hkubeApi.sendMessage({'n': n})",
    "    while active[0]:",
    "        time.sleep(0.05)",
    "    return 'source stopped'",
    "def stop(data):",
    "    active[0] = False",
)
HKUBE_STREAM_DOUBLE = python(
    "def start(args, hkubeApi):",
    "    message = args['streamInput']['message']",
    "    return {'n': message['n'], 'value': message['n'] * 2}",
)
HKUBE_STREAM_SINK = python(
    "import time",
    "def start(args, hkubeApi):",
    "    wanted, numbers = args['input'][0], []",
    "    def on_message(message, origin):",
    "        numbers.append([message['n'], message['value'], origin])",
    "    hkubeApi.registerInputListener(onMessage=on_message)",
    "    hkubeApi.startMessageListening()",
    "    while len(numbers) < wanted:",
    "        time.sleep(0.05)",
    "    return numbers",
)


# --- applying them ---------------------------------------------------------------------------


def make_archive(folder: Path, files: dict[str, str], dest: Path) -> Path:
    """A .tar.gz of algorithm code, as a user would upload it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    with tarfile.open(dest, "w:gz") as tar:
        for name in files:
            tar.add(folder / name, arcname=name)
    return dest


def algorithm_applier(cluster: Cluster, base: Path) -> Callable[..., str]:
    """`create(name, source, **descriptor)`: applies an algorithm from a `Source` (or a dict of
    files and an `env`) and returns its name once its build completed."""

    def create(name: str, source: Source | dict[str, str], env: str = "python", **descriptor: object) -> str:
        if isinstance(source, Source):
            files, env = source.files, source.env
        else:
            files = source
        archive = make_archive(base / name, files, base / f"{name}.tar.gz")
        entry = "main.py" if env == "python" else "index.js"
        cluster.apply_algorithm({"name": name, "env": env, "entryPoint": entry, **descriptor}, archive)
        return name

    return create


def example_algorithm(example: Path, name: str) -> tuple[dict[str, Any], Path]:
    """`<example>/<name>.yml`, an HKube descriptor with `code` and `resources`, as the apply
    payload (resources and entry point flattened in) and the path of its packed code."""
    descriptor = yaml.safe_load((example / f"{name}.yml").read_text())
    code = descriptor.pop("code")
    resources = descriptor.pop("resources", {})
    return {**descriptor, **resources, "entryPoint": code["entryPoint"]}, example / code["path"]


def apply_example(cluster: Cluster, example: Path, name: str) -> dict[str, Any]:
    """Apply an example's algorithm; returns the apply answer once the build (if any) completed."""
    return cluster.apply_algorithm(*example_algorithm(example, name))


def store_pipeline_files(cluster: Cluster, example: Path, *names: str) -> None:
    """Store the example's pipeline descriptors (already stored is fine)."""
    for name in names:
        response = cluster.post("store/pipelines", yaml.safe_load((example / name).read_text()))
        assert response.status_code in (201, 409), response.text

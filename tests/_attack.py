"""Run config attacks in a child Python under a time and memory limit, and report what each one did.

The child imports losskit, warms it up, then runs each ``attack_*`` function defined by the test's code and
records, per attack: the exception (type, MRO, message), time, peak-memory growth, modules imported, audited
events (subprocess, os.system, exec of code, files opened), and whether the environment, the root logger or
the random state changed. A child that dies (``sys.exit`` from an imported ``__main__``, an out-of-memory kill)
reports nothing for the attacks it did not finish, which the test sees as the host not surviving.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.conftest import subprocess_env

MEMORY_LIMIT = 3 << 30  # address space of the child: torch needs ~0.6 GiB, a billion-laughs expansion many more
MARK = "@@ATTACK@@"

_PRELUDE = r"""
import json, logging, os, random, resource, sys, time, warnings
import torch, yaml
import losskit
from losskit import ConfigError, ImportPolicy
try:
    import omegaconf
    from omegaconf import OmegaConf
except ImportError:
    OmegaConf = None
losskit.build_loss("mse"); losskit.list_losses()
_warm = ["nope", {"_target_": "torch.nope.X"}, {"name": "dice", "smooth": float("nan")}]
if OmegaConf is not None:  # omegaconf's grammar imports parts of antlr4 on its first error
    _warm += [lambda x=x: OmegaConf.create(x) for x in ({"name": "${a"}, {"name": "${nope}"}, {"name": "${x:1}"})]
for _spec in _warm:
    try:
        losskit.build_loss(_spec() if callable(_spec) else _spec)
    except Exception:
        pass
"""

_DRIVER = r"""
# Not "exec": dataclasses and namedtuple generate code with exec; an import shows in sys.modules instead.
_EVENTS = ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.kill",
           "ctypes.dlopen", "socket.connect", "os.remove", "shutil.rmtree", "webbrowser.open")
_log = {"events": [], "opened": [], "armed": False}

def _hook(event, args):
    if not _log["armed"]:
        return
    if event in _EVENTS:
        _log["events"].append(event)
    elif event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _log["opened"].append(os.fsdecode(args[0]))

sys.addaudithook(_hook)

def _state():
    root = logging.getLogger()
    return (dict(os.environ), (root.level, list(root.handlers)), torch.get_rng_state().clone(), random.getstate())

def _run(name, fn):
    env, log, rng, prng = _state()
    modules = set(sys.modules)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _log.update(events=[], opened=[], armed=True)
    t = time.perf_counter()
    out = {"name": name, "error": None, "mro": [], "message": "", "message_len": 0, "returned": None}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fn()
        out["returned"] = repr(result)[:300]
        out["warnings"] = [str(w.message)[:500] for w in caught]
    except BaseException as exc:  # SystemExit included: the host must survive every attack
        msg = str(exc)
        out.update(error=type(exc).__name__, mro=[c.__name__ for c in type(exc).__mro__], message=msg[:5000],
                   message_len=len(msg), notes=[str(n)[:500] for n in getattr(exc, "__notes__", [])])
    out["seconds"] = time.perf_counter() - t
    _log["armed"] = False
    new_env, new_log, new_rng, new_prng = _state()
    out.update(
        events=list(_log["events"]), opened=list(_log["opened"]),
        new_modules=sorted(set(sys.modules) - modules),
        env_changed=new_env != env, logging_changed=new_log != log,
        rng_changed=not torch.equal(new_rng, rng) or new_prng != prng,
        rss_growth_mb=(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024,
    )
    print("@@ATTACK@@" + json.dumps(out), flush=True)

for _name, _fn in list(globals().items()):
    if _name.startswith("attack_") and callable(_fn):
        _run(_name, _fn)
print("@@ATTACK@@" + json.dumps({"name": "@@done"}), flush=True)
"""


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_attacks(
    code: str,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    extra_paths: tuple[object, ...] = (),
) -> dict[str, dict[str, Any]]:
    """Run ``code`` (which defines ``attack_*`` functions) in a limited child; results by attack name."""
    script = _PRELUDE + "\n" + textwrap.dedent(code) + "\n" + _DRIVER
    full_env = {**subprocess_env(*extra_paths), "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit,
    )
    results: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            item = json.loads(line[len(MARK) :])
            results[item["name"]] = item
    if "@@done" not in results:
        raise AssertionError(
            f"the child process did not survive (exit {proc.returncode}); finished: {sorted(results)}\n"
            f"stderr tail: {proc.stderr[-3000:]}"
        )
    return results


def assert_refused(
    result: dict[str, Any],
    *,
    error: str = "ConfigError",
    secrets: tuple[str, ...] = (),
    match: str = "",
    seconds: float = 10.0,
    memory_mb: float = 200.0,
) -> None:
    """The attack raised ``error`` (a losskit error) and did nothing else; the message is short and clean."""
    where = result["name"]
    assert result["error"] is not None, f"{where}: not refused, returned {result['returned']}"
    assert error in result["mro"], f"{where}: raised {result['error']}: {result['message'][:500]}"
    assert "LossKitError" in result["mro"], f"{where}: {result['error']} is not a losskit error"
    assert result["message_len"] < 2000, f"{where}: message of {result['message_len']} characters"
    for secret in secrets:
        assert secret not in result["message"] and not any(secret in n for n in result.get("notes", [])), (
            f"{where}: the message leaks {secret!r}"
        )
    if match:
        assert match in result["message"], f"{where}: {match!r} not in {result['message'][:500]!r}"
    assert_inert(result, seconds=seconds, memory_mb=memory_mb)


def assert_inert(result: dict[str, Any], *, seconds: float = 10.0, memory_mb: float = 200.0) -> None:
    """Nothing imported, run, exited or changed; bounded time and memory."""
    where = result["name"]
    assert result["events"] == [], f"{where}: audited events {result['events']}"
    assert result["new_modules"] == [], f"{where}: imported {result['new_modules'][:10]}"
    assert not result["env_changed"], f"{where}: the environment changed"
    assert not result["logging_changed"], f"{where}: the root logger changed"
    assert not result["rng_changed"], f"{where}: the random state changed"
    assert result["seconds"] < seconds, f"{where}: took {result['seconds']:.1f} s"
    assert result["rss_growth_mb"] < memory_mb, f"{where}: peak memory grew {result['rss_growth_mb']:.0f} MB"

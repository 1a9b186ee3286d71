#!/usr/bin/env python3
"""Benchmark of `cargo xtask` (issue 6): what stage builds save, what the tool costs.

Run from the repository root:

    python3 bench/bench.py [--runs N] [--quick] [--only 1,2,...] [--rev REV]
                           [--keep-logs] [--target-root DIR]

Everything runs on real Docker engines: the machine's dockerd 20.10 (its
legacy builder and its BuildKit) and the modern engine (Docker 26 with buildx
and the containerd image store, started with `.ci/modern-engine start` when it
is not running, and stopped at the end only then), each on a busybox base image
imported locally (`xtask-bench/busybox:latest`, imported from /bin/busybox only
when missing). Every image it builds is named `xtask-bench/...` and removed at
the end, with the temp folders it made. The table goes to stdout (markdown),
the progress to stderr. See bench/README.md for what each figure means.

Standard library only (Python 3.9+).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASE_IMAGE = "xtask-bench/busybox:latest"
PREFIX = "xtask-bench"

# The xtask's settings: cleared so that the caller's environment cannot change
# what is measured; the bench sets the ones it needs explicitly.
XTASK_SETTINGS = [
    "STAGES_DIR", "DOCKER_IMAGE", "DOCKER_IMAGE_TAG", "A_GIT_NAMESPACE", "A_GIT_PROJECT",
    "DOCKER_BUILD_ARGS", "A_ENV_NAME", "STAGES_TO_BUILD", "NO_GEN", "NO_STAGES_BUILD",
    "NO_FULL_BUILD", "DOCKER", "DOCKER_BUILDKIT", "CARGO_MANIFEST_DIR", "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
]


# The builders every figure that builds runs on, in the table's order: the
# first engine's two (the machine's dockerd 20.10) and the modern engine's.
BUILDERS = ("legacy", "BuildKit", "modern")
MODERN_SCRIPT = REPO / ".ci" / "modern-engine"


def first_engine_builders() -> dict[str, dict[str, str]]:
    """The first engine's two builders, as the xtask reaches them: the engine
    program (`DOCKER`) and `DOCKER_BUILDKIT`. BuildKit needs a client that has
    it (Debian's 20.10 `/usr/bin/docker` has it built in; docker 28 needs buildx)."""
    legacy = shutil.which("docker") or "docker"
    buildkit = os.environ.get("XTASK_BENCH_BUILDKIT_DOCKER") or (
        "/usr/bin/docker" if Path("/usr/bin/docker").exists() else legacy)
    return {
        "legacy": {"engine": "first", "DOCKER": legacy, "DOCKER_BUILDKIT": "0"},
        "BuildKit": {"engine": "first", "DOCKER": buildkit, "DOCKER_BUILDKIT": "1"},
    }


class Engine:
    """A Docker engine the bench drives, and what this run made there: the
    clean-up removes it engine by engine (the first engine's two builders
    share its images)."""

    def __init__(self, name: str, docker: str, env: dict[str, str]) -> None:
        self.name = name  # "first" (the machine's dockerd 20.10) or "modern"
        self.docker = docker  # a client that reaches it, with...
        self.env = env  # ...these variables (DOCKER_HOST, DOCKER_CONFIG for the modern one)
        self.repos: list[str] = []  # image repositories this run owns there
        self.ids: list[str] = []  # every image id made under them, oldest first
        self.base_imported = False
        self.version = "?"  # the server's major.minor, for the table
        self.info = "?"  # server version and storage, for the machine lines

# The figures that run docker builds: once per builder (7: once per engine).
BUILDING_FIGURES = {1, 2, 4, 6, 7}

FIGURES = {
    1: "iteration",
    2: "overhead",
    3: "tool cost",
    4: "build context",
    5: "scaling",
    6: "daily loop",
    7: "team cache",
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- results


class Table:
    """The rows of the final markdown table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.notes: list[str] = []
        # The builder the rows added now were measured on (`-`: none built).
        self.builder = "-"
        # What the builder column says for each builder: its engine too.
        self.labels: dict[str, str] = {}

    def times(self, name: str, values: list[float]) -> None:
        self._add(name, values, fmt_seconds, "")

    def bytes(self, name: str, values: list[float]) -> None:
        self._add(name, values, fmt_bytes, "")

    def ratio(self, name: str, a: list[float], b: list[float], fmt=None) -> float:
        """median(a) / median(b); min and max are those of the run-by-run ratios
        a[i] / b[i] (the runs are paired: interleaved, or taken alike)."""
        fmt = fmt or fmt_seconds
        med = statistics.median(a) / statistics.median(b)
        pairs = [x / y for x, y in zip(a, b)]
        source = f"{fmt(statistics.median(a))} / {fmt(statistics.median(b))}"
        self.rows.append((name, self.builder, f"**{med:.3f}**", f"{min(pairs):.3f}",
                          f"{max(pairs):.3f}", str(len(pairs)), source))
        return med

    def _add(self, name, values, fmt, source) -> None:
        self.rows.append((name, self.builder, fmt(statistics.median(values)), fmt(min(values)),
                          fmt(max(values)), str(len(values)), source))

    def markdown(self) -> str:
        """The rows by figure, each figure's rows in the order first measured,
        with the same row of each builder side by side."""
        head = ("figure", "builder (engine)", "median", "min", "max", "runs",
                "ratio of medians: a / b")
        first: dict[str, int] = {}
        for i, row in enumerate(self.rows):
            first.setdefault(row[0], i)
        order = list(BUILDERS) + ["-"]
        lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
        for row in sorted(self.rows, key=lambda r: (int(r[0].split(".")[0]), first[r[0]],
                                                    order.index(r[1]))):
            row = (row[0], self.labels.get(row[1], row[1])) + row[2:]
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines)


def fmt_seconds(v: float) -> str:
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def fmt_bytes(v: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if v >= size:
            return f"{v / size:.1f} {unit}"
    return f"{v:.0f} B"


def parse_docker_size(text: str) -> float:
    """Docker's human sizes (`units.HumanSize`: decimal, `%.4g`): 2.048kB, 214.5MB."""
    m = re.fullmatch(r"([\d.]+)\s*([kKMGTP]?B)", text.strip())
    if not m:
        raise BenchError(f"cannot parse the size {text!r}")
    scale = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15}
    return float(m.group(1)) * scale[m.group(2)]


# --------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, runs: int, target_root: Path | None, only: set[int],
                 wanted: list[str]) -> None:
        self.runs = runs
        self.only = only
        self.table = Table()
        self.diagnostics: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="xtask-bench-"))
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        self.log_n = 0
        # Bench-owned cargo target dirs: kept apart from everyone else's target/.
        self.own_target_root = target_root is None
        if target_root is None:
            self.target_root = self.tmp / "target"
        else:
            self.target_root = target_root / f"xtask-bench-{os.getpid()}"
        self.target_root.mkdir(parents=True, exist_ok=True)
        self.warm_target = self.target_root / "xtask"
        self.pid = os.getpid()
        self.base_env = {k: v for k, v in os.environ.items() if k not in XTASK_SETTINGS}
        self.base_env["CARGO_NET_OFFLINE"] = "true"
        self.env = dict(self.base_env)
        self.docker = shutil.which("docker")
        # The engines and builders of this run: the modern one joins them when
        # `start_modern` has it running (a figure that builds asks for it).
        self.engines = {"first": Engine("first", self.docker or "docker", {})}
        self.engine = self.engines["first"]
        self.builders = {name: spec for name, spec in first_engine_builders().items()
                         if name in wanted}
        self.wanted = wanted
        self.modern_started = False  # stop it at the end only when this run started it
        self.registry: subprocess.Popen | None = None  # figure 7's, stopped by its pid
        # Figure 2's traced runs, every builder's in one table under the main one.
        self.trace_rows: list[str] = []
        self.trace_shares: list[str] = []
        self.registry_host: str | None = None
        self.git = shutil.which("git")
        self.project = self.tmp / "project"
        self.ratios: dict[str, float] = {}
        self.warnings: list[str] = []  # what the xtask warned about, once each
        self.keep_logs = False
        self.rev: str | None = None  # take the xtask from this git revision, not the working tree

    def use_builder(self, name: str) -> None:
        """Builds from now on run on `name` (`-`: figures that build nothing);
        the table's rows say which."""
        self.table.builder = name
        spec = self.builders.get(name)
        if spec is None:
            self.use_engine(self.engines["first"])
            return
        self.use_engine(self.engines[spec["engine"]])
        self.env["DOCKER"] = spec["DOCKER"]
        # The modern engine's `docker build` is buildx when DOCKER_BUILDKIT is
        # unset, as on a fresh install: its builder sets none.
        if "DOCKER_BUILDKIT" in spec:
            self.env["DOCKER_BUILDKIT"] = spec["DOCKER_BUILDKIT"]
        self.docker = spec["DOCKER"]

    def use_engine(self, engine: Engine) -> None:
        """docker commands from now on reach `engine` with its own client."""
        self.engine = engine
        self.env = dict(self.base_env, **engine.env)
        self.docker = engine.docker

    @contextlib.contextmanager
    def on_builder(self, name: str):
        """Runs the block on builder `name`, then comes back to the current one."""
        saved = self.table.builder
        self.use_builder(name)
        try:
            yield
        finally:
            self.use_builder(saved)

    def start_modern(self) -> None:
        """The modern engine as `.ci/modern-engine start` reports it, started
        when it does not answer; `modern_started` says whether this run did."""
        log("the modern engine: `bash .ci/modern-engine start` (downloads it on a first run)")
        proc = subprocess.run(["bash", str(MODERN_SCRIPT), "start"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise BenchError(f"the modern engine did not start (`bash {MODERN_SCRIPT} start`):\n"
                             f"{tail}\nRun without it: --builders legacy,BuildKit")
        said = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        self.modern_started = said.get("STARTED") == "1"
        log("  started by this run (stopped at the end)" if self.modern_started
            else "  already running (left running at the end)")
        self.engines["modern"] = Engine("modern", said["XTASK_MODERN_DOCKER"], {
            "DOCKER_HOST": said["DOCKER_HOST"], "DOCKER_CONFIG": said["DOCKER_CONFIG"]})
        self.builders["modern"] = {"engine": "modern", "DOCKER": said["XTASK_MODERN_DOCKER"]}

    def stop_modern(self) -> None:
        if self.modern_started:
            log("stopping the modern engine this run started")
            subprocess.run(["bash", str(MODERN_SCRIPT), "stop"], stdin=subprocess.DEVNULL)
            self.modern_started = False

    # ----------------------------------------------------------------- processes

    def _logfile(self, what: str) -> Path:
        self.log_n += 1
        safe = re.sub(r"[^A-Za-z0-9]+", "-", what)[:60]
        return self.logs / f"{self.log_n:04d}-{safe}.log"

    def run(self, cmd: list[str], cwd: Path, env: dict | None = None, check: bool = True,
            ok_codes=(0,)) -> tuple[float, int, str]:
        """Runs `cmd` with stdout and stderr to a log file; returns (seconds,
        exit code, output). Timing is wall clock around the process."""
        logfile = self._logfile(" ".join(cmd[:4]))
        with open(logfile, "wb") as out:
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=cwd, env=env or self.env, stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT)
            seconds = time.perf_counter() - start
        text = logfile.read_text(errors="replace")
        if cmd[:2] == ["cargo", "xtask"] or cmd[0].endswith("/xtask"):
            for line in text.splitlines():
                if line.startswith("warning:") and line not in self.warnings:
                    self.warnings.append(line)
        if check and proc.returncode not in ok_codes:
            tail = "\n".join(text.splitlines()[-25:])
            raise BenchError(f"`{shlex.join(cmd)}` in {cwd} exited with {proc.returncode}:\n{tail}")
        # What the builder prints tells which one ran, whatever was asked for.
        if self.table.builder == "legacy" and "#1 [internal]" in text:
            raise BenchError("asked for the legacy builder, BuildKit ran")
        if self.table.builder == "BuildKit" and "Sending build context" in text:
            raise BenchError(f"asked for BuildKit, the legacy builder ran ({self.docker})")
        if self.table.builder == "modern" and ("Sending build context" in text
                                               or "legacy builder is deprecated" in text):
            raise BenchError(f"asked for buildx on the modern engine, the legacy builder ran "
                             f"({self.docker})")
        return seconds, proc.returncode, text

    def out(self, cmd: list[str], cwd: Path | None = None, env: dict | None = None,
            lenient: bool = False) -> str:
        """stdout of `cmd` (stderr kept apart); fails on a non-zero exit unless
        `lenient`."""
        proc = subprocess.run(cmd, cwd=cwd or self.tmp, env=env or self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0 and not lenient:
            raise BenchError(f"`{shlex.join(cmd)}` exited with {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def xtask_env(self, **extra: str) -> dict:
        env = dict(self.env)
        env["CARGO_TARGET_DIR"] = str(self.warm_target)
        env.update(extra)
        return env

    def xtask(self, args: list[str], check=True, ok_codes=(0,), **extra) -> tuple[float, int, str]:
        return self.run(["cargo", "xtask", *args], self.project, self.xtask_env(**extra),
                        check=check, ok_codes=ok_codes)

    # ----------------------------------------------------------------- images

    def docker_ok(self, *args: str) -> bool:
        return subprocess.run([self.docker, *args], stdin=subprocess.DEVNULL, env=self.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

    def own_repo(self, name: str) -> str:
        """An image repository of this run on the current engine (removed at the end)."""
        repo = f"{PREFIX}/{name}-{self.pid}"
        if repo not in self.engine.repos:
            self.engine.repos.append(repo)
        return repo

    def remember(self, repo: str) -> None:
        """Records the ids of `repo`'s images, so that the ones a later build
        leaves dangling can still be removed at the end."""
        out = self.out([self.docker, "image", "ls", "--no-trunc", "--format", "{{.ID}}", repo])
        for image_id in out.split():
            if image_id not in self.engine.ids:
                self.engine.ids.append(image_id)

    def ids_of(self, repo: str) -> dict[str, str]:
        out = self.out([self.docker, "image", "ls", "--no-trunc", "--format",
                        "{{.Tag}} {{.ID}}", repo])
        return dict(line.split() for line in out.splitlines() if line.strip())

    def ensure_base(self, engine: Engine) -> None:
        """The engine answers and has the base image: imported when missing,
        the same way on every engine."""
        self.use_engine(engine)
        if not self.docker:
            raise BenchError("no `docker` on PATH")
        if not self.docker_ok("info"):
            raise BenchError(f"`{self.docker} info` fails on the {engine.name} engine: start it "
                             "(the first: `sudo dockerd &`; the modern: "
                             "`bash .ci/modern-engine start`)")
        # Read now: the machine lines are printed after the clean-up, which
        # stops the modern engine when this run started it.
        info = self.out([self.docker, "info", "--format",
                         "{{.ServerVersion}}|{{.Driver}}|{{.DriverStatus}}"], lenient=True)
        version, driver, status = (info.strip().split("|") + ["?", "?"])[:3]
        engine.version = ".".join(version.split(".")[:2]) or "?"
        engine.info = f"{version}, storage driver {driver}" + (
            " (containerd image store)" if "containerd.snapshotter" in status else "")
        if engine.name == "modern":
            buildx = self.out([self.docker, "buildx", "version"], lenient=True).split()
            engine.info += f", buildx {buildx[1] if len(buildx) > 1 else '?'}"
        if self.docker_ok("image", "inspect", BASE_IMAGE):
            return
        busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if Path(p).exists()), None)
        if busybox is None:
            raise BenchError("a static busybox is needed for the base image: "
                             "`sudo apt-get install busybox-static`")
        log(f"importing {BASE_IMAGE} from {busybox} on the {engine.name} engine")
        rootfs = self.tmp / "rootfs"
        for d in ("bin", "tmp", "etc"):
            (rootfs / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(busybox, rootfs / "bin" / "busybox")
        for applet in self.out([busybox, "--list"]).split():
            if applet != "busybox":
                try:
                    os.symlink("busybox", rootfs / "bin" / applet)
                except FileExistsError:
                    pass
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run([self.docker, "import", "-c", "ENV PATH=/bin", "-c",
                              'CMD ["/bin/sh"]', "-", BASE_IMAGE], stdin=tar.stdout,
                             stdout=subprocess.DEVNULL, env=self.env)
        tar.stdout.close()
        if tar.wait() != 0 or imp.returncode != 0:
            raise BenchError(f"docker import of the busybox rootfs failed ({engine.name} engine)")
        engine.base_imported = True
        shutil.rmtree(rootfs, ignore_errors=True)

    # ----------------------------------------------------------------- cleanup

    def cleanup(self) -> None:
        log("cleaning up images and temp folders")
        for engine in self.engines.values():
            try:
                self.use_engine(engine)
                self.cleanup_images(engine)
            except (BenchError, OSError) as err:
                log(f"warning: image cleanup incomplete on the {engine.name} engine: {err}")
        self.stop_registry()
        self.stop_modern()
        if self.keep_logs:
            kept = Path(tempfile.gettempdir()) / f"xtask-bench-logs-{self.pid}"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.move(str(self.logs), kept)
            log(f"the log of every command is kept in {kept}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        if not self.own_target_root:
            shutil.rmtree(self.target_root, ignore_errors=True)

    def cleanup_images(self, engine: Engine) -> None:
        base_id = None
        if engine.base_imported:
            base_id = self.out([self.docker, "image", "inspect", "--format", "{{.Id}}",
                                BASE_IMAGE]).strip()
        tagged = []
        for repo in engine.repos:
            try:
                self.remember(repo)
                tagged += [f"{repo}:{tag}" for tag in self.ids_of(repo)]
            except BenchError:
                pass
        # Stopped containers an interrupted build leaves behind, on this run's images.
        for ancestor in tagged + ([base_id] if base_id else []):
            out = self.out([self.docker, "ps", "-aq", "--filter", f"ancestor={ancestor}",
                            "--filter", "status=exited", "--filter", "status=created"],
                           lenient=True)
            for container in out.split():
                self.docker_ok("rm", container)
        for tag in tagged:
            self.docker_ok("rmi", tag)
        # Dangling images left by rebuilds: newest first, so children go before parents.
        pending = list(reversed(engine.ids))
        for _ in range(3):
            pending = [i for i in pending if self.docker_ok("image", "inspect", i)
                       and not self.docker_ok("rmi", i)]
            if not pending:
                break
        if base_id:
            # Everything built on the base this run imported is this run's, including
            # the untagged steps of a build cut short: deepest first.
            for image_id in reversed(self.descendants(base_id)):
                self.docker_ok("rmi", image_id)
            self.docker_ok("rmi", BASE_IMAGE)
        if pending and any(self.docker_ok("image", "inspect", i) for i in pending):
            log(f"warning: could not remove images {' '.join(pending)} ({engine.name} engine)")

    def descendants(self, root: str) -> list[str]:
        """Image ids whose parent chain reaches `root`, parents before children."""
        every = self.out([self.docker, "image", "ls", "-a", "-q", "--no-trunc"], lenient=True).split()
        if not every:
            return []
        parents = dict(line.split(" ", 1) for line in self.out(
            [self.docker, "image", "inspect", "--format", "{{.Id}} {{.Parent}}", *set(every)],
            lenient=True).splitlines() if " " in line)
        children: dict[str, list[str]] = {}
        for child, parent in parents.items():
            children.setdefault(parent.strip(), []).append(child)
        order, queue = [], [root]
        while queue:
            for child in children.get(queue.pop(0), []):
                order.append(child)
                queue.append(child)
        return order

    # ----------------------------------------------------------------- projects

    def make_project(self) -> None:
        """A copy of the repository's vendored xtask (sources and manifests
        only), with its own snippets: a project that uses the tool."""
        p = self.project
        (p / "xtask").mkdir(parents=True)
        if self.rev:
            # The files as committed in `rev`, whatever the working tree holds.
            archive = subprocess.Popen(["git", "-C", str(REPO), "archive", self.rev, "--",
                                        "Cargo.toml", "Cargo.lock", ".cargo",
                                        "xtask/Cargo.toml", "xtask/src"], stdout=subprocess.PIPE)
            untar = subprocess.run(["tar", "-x", "-C", str(p)], stdin=archive.stdout)
            archive.stdout.close()
            if archive.wait() != 0 or untar.returncode != 0:
                raise BenchError(f"cannot take the xtask from git revision {self.rev}")
            ignore = self.out(["git", "-C", str(REPO), "show", f"{self.rev}:.dockerignore"],
                              lenient=True)
        else:
            for name in ("Cargo.toml", "Cargo.lock"):
                shutil.copy2(REPO / name, p / name)
            shutil.copytree(REPO / ".cargo", p / ".cargo")
            shutil.copy2(REPO / "xtask" / "Cargo.toml", p / "xtask" / "Cargo.toml")
            shutil.copytree(REPO / "xtask" / "src", p / "xtask" / "src")
            ignore = ((REPO / ".dockerignore").read_text()
                      if (REPO / ".dockerignore").exists() else "")
        # The snippet sets of figure 5 stay out of the build contexts.
        (p / ".dockerignore").write_text(ignore + "/bench-sets\n")
        self.write_code(0)
        write_snippets(p / ".docker", iteration_snippets())

    def write_code(self, n: int) -> None:
        code = self.project / "app" / "code.txt"
        code.parent.mkdir(exist_ok=True)
        code.write_text(f"code change {n} at {time.time_ns()}\n")

    def build_warm_xtask(self) -> None:
        if (self.warm_target / "debug" / "xtask").exists():
            return
        log("building the xtask once (untimed)")
        env = dict(self.env, CARGO_TARGET_DIR=str(self.warm_target))
        self.run(["cargo", "build", "-p", "xtask", "--offline"], self.project, env)

    # ----------------------------------------------------------------- figure 3

    def tool_cost(self) -> None:
        log("figure 3: tool cost (cold builds, warm runs)")
        empty = self.tmp / "empty"
        (empty / "xtask" / "src").mkdir(parents=True)
        shutil.copy2(REPO / "Cargo.toml", empty / "Cargo.toml")  # same workspace and profile
        shutil.copytree(REPO / ".cargo", empty / ".cargo")       # same alias
        (empty / "xtask" / "Cargo.toml").write_text(
            '[package]\nname = "xtask"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n')
        (empty / "xtask" / "src" / "main.rs").write_text("fn main() {}\n")
        empty_warm = self.target_root / "empty"
        empty_env = dict(self.env, CARGO_TARGET_DIR=str(empty_warm))
        self.run(["cargo", "build", "-p", "xtask", "--offline"], empty, empty_env)

        cold_x, alone_x, cold_e = [], [], []
        build = ["cargo", "build", "-p", "xtask", "--offline"]
        for i in range(self.runs):
            for which, cwd, dest in (("xtask", self.project, cold_x), ("empty", empty, cold_e)):
                tdir = self.target_root / f"cold-{which}-{i}"
                shutil.rmtree(tdir, ignore_errors=True)
                env = dict(self.env, CARGO_TARGET_DIR=str(tdir))
                secs, _, _ = self.run(build, cwd, env)
                dest.append(secs)
                if which == "xtask":
                    # Where the cold build goes: the xtask crate alone, cold, its
                    # dependencies already built. `cargo clean -p xtask` removes
                    # the crate's own artifacts (incremental cache included) and
                    # nothing of its dependencies, so the rebuild compiles and
                    # links the crate only, as a fresh clone's build does last.
                    self.run(["cargo", "clean", "-p", "xtask", "--offline"], cwd, env)
                    secs, _, text = self.run(build, cwd, env)
                    alone_x.append(secs)
                    compiled = [line.split()[1] for line in text.splitlines()
                                if line.strip().startswith("Compiling ")]
                    if compiled != ["xtask"]:
                        self.table.notes.append(
                            "WARNING: figure 3's crate-alone rebuild compiled "
                            f"{', '.join(compiled) or 'nothing'}, not the xtask alone")
                if which == "xtask" and not (self.warm_target / "debug" / "xtask").exists():
                    tdir.rename(self.warm_target)  # the first cold build serves the warm runs
                else:
                    shutil.rmtree(tdir, ignore_errors=True)
            log(f"  cold run {i + 1}: xtask {cold_x[-1]:.1f} s (the crate alone "
                f"{alone_x[-1]:.1f} s), empty binary {cold_e[-1]:.1f} s")
        self.cold_build_units(build)

        if "Compiling" in self.xtask(["dockerfile"])[2]:
            log("  note: cargo rebuilt the xtask in the moved target dir (untimed)")
        warm_x, warm_e = [], []
        self.xtask(["dockerfile", "--check"])
        self.run(["cargo", "xtask"], empty, empty_env)
        for i in range(self.runs):
            warm_x.append(self.xtask(["dockerfile", "--check"])[0])
            warm_e.append(self.run(["cargo", "xtask"], empty, empty_env)[0])
        direct = []
        for i in range(self.runs):
            direct.append(self.run([str(self.warm_target / "debug" / "xtask"), "dockerfile",
                                    "--check"], self.project, self.env)[0])
        t = self.table
        t.times("3. cold `cargo build -p xtask` (empty target dir, offline)", cold_x)
        t.times("3. the xtask crate alone, cold (`cargo clean -p xtask`, then the same build: "
                "dependencies built)", alone_x)
        t.ratio("3. the xtask crate's share of the cold build: crate alone / whole", alone_x,
                cold_x)
        t.times("3. cold `cargo build -p xtask` of an empty `fn main(){}` (the floor)", cold_e)
        self.ratios["cold"] = t.ratio("3. cold build ratio: xtask / empty binary", cold_x, cold_e)
        t.times("3. warm `cargo xtask dockerfile --check`", warm_x)
        t.times("3. warm `cargo xtask` of the empty binary (the floor)", warm_e)
        self.ratios["warm"] = t.ratio("3. warm run ratio: check / empty binary", warm_x, warm_e)
        t.times("3. (diag) `target/debug/xtask dockerfile --check`, no cargo", direct)

    def cold_build_units(self, build: list[str]) -> None:
        """One more cold build (untimed) with `--timings`, whose report lists
        how long each unit (each dependency, build script, the xtask) took:
        printed under the table. The report is HTML with the data in a
        `const UNIT_DATA = [...];` line of JSON, which is not a stable format:
        when it cannot be read, the breakdown is left out, nothing fails."""
        tdir = self.target_root / "cold-timings"
        shutil.rmtree(tdir, ignore_errors=True)
        env = dict(self.env, CARGO_TARGET_DIR=str(tdir))
        secs, _, _ = self.run(build + ["--timings"], self.project, env)
        units = []
        try:
            html = (tdir / "cargo-timings" / "cargo-timing.html").read_text()
            m = re.search(r"const UNIT_DATA = (\[.*?\]);\s*$", html, re.S | re.M)
            for u in json.loads(m.group(1)) if m else []:
                # `target` is "" for a library, ` build-script`, ` xtask "bin"`, ...
                target = re.sub(r"[\"()]", "", u.get("target") or "").split()
                kind = " ".join(w for w in target if w != u["name"])
                units.append((float(u["duration"]), u["name"] + (f" ({kind})" if kind else "")))
        except (OSError, ValueError, KeyError, TypeError) as err:
            log(f"  note: no unit breakdown from cargo's --timings report ({err})")
        finally:
            shutil.rmtree(tdir, ignore_errors=True)
        if not units:
            return
        units.sort(reverse=True)
        self.diagnostics.append(
            f"Where the cold build goes (figure 3: one more cold `{' '.join(build)} --timings`, "
            f"untimed, {secs:.2f} s wall; each unit's own duration from cargo's report; on "
            f"{os.cpu_count()} CPUs they overlap, so they add up to more than the wall): "
            + ", ".join(f"{what} {d:.2f} s" for d, what in units) + ".")

    # ----------------------------------------------------------------- figure 1

    def iteration(self, repo: str) -> None:
        log("figure 1: iteration after a code change (setup: build every stage, untimed)")
        env = {"DOCKER_IMAGE": repo}
        self.xtask(["stages"], **env)
        self.remember(repo)
        # The xtask's own stage-3 command, to run it directly (diag).
        dry = self.out(["cargo", "xtask", "stages", "3", "--dry-run"], cwd=self.project,
                       env=self.xtask_env(**env)).strip().splitlines()
        if len(dry) != 1:
            raise BenchError(f"expected one command from `stages 3 --dry-run`, got {dry}")
        a, b, c, d = [], [], [], []
        for i in range(self.runs):
            self.write_code(4 * i + 1)
            a.append(self.xtask(["stages", "3"], **env)[0])
            self.remember(repo)
            self.write_code(4 * i + 2)
            b.append(self.run([self.docker, "build", "-t", f"{repo}:latest", "-f", "Dockerfile",
                               "."], self.project)[0])
            self.remember(repo)
            self.write_code(4 * i + 3)
            d.append(self.run(["sh", "-c", dry[0]], self.project)[0])
            self.remember(repo)
            # The chain file alone, without the freshness label (which the legacy
            # builder turns into one more build step): what the label costs.
            self.write_code(4 * i + 4)
            c.append(self.run([self.docker, "build", "-t", f"{repo}:bench-nolabel", "-f",
                               ".docker/generated/Dockerfile.stage3", "."], self.project)[0])
            self.remember(repo)
            log(f"  run {i + 1}: cargo xtask stages 3 {a[-1]:.2f} s, docker build {b[-1]:.2f} s, "
                f"its command directly {d[-1]:.2f} s, without label {c[-1]:.2f} s")
        t = self.table
        t.times("1. `cargo xtask stages 3` after a code change", a)
        t.times("1. `docker build -f Dockerfile .` after a code change", b)
        self.ratios[f"iteration/{t.builder}"] = t.ratio("1. iteration ratio: stages 3 / full build (expected < 0.35)", a, b)
        t.times("1. (diag) the xtask's stage-3 `docker build` (from `--dry-run`) run directly, "
                "after a code change", d)
        t.times("1. (diag) the same without its `--label`, after a code change", c)
        t.ratio("1. (diag) label step: stage-3 build with / without `--label`", d, c)

    # ----------------------------------------------------------------- figure 2

    def overhead(self, repo: str) -> None:
        log("figure 2: overhead with nothing changed (setup: bring stages 0-3 up to date)")
        env = {"DOCKER_IMAGE": repo}
        self.xtask(["stages", "0", "1", "2", "3"], **env)
        self.remember(repo)
        dry = self.out(["cargo", "xtask", "stages", "0", "1", "2", "3", "--dry-run"],
                       cwd=self.project, env=self.xtask_env(**env))
        commands = [line for line in dry.splitlines() if line.strip()]
        if len(commands) != 4:
            raise BenchError(f"expected 4 commands from --dry-run, got:\n{dry}")
        script = "set -e\n" + "\n".join(commands) + "\n"
        (self.tmp / "direct.sh").write_text(script)
        label = self.table.labels.get(self.table.builder, self.table.builder)
        self.diagnostics.append(f"Figure 2's direct commands on {label} (from `cargo xtask "
                                "stages 0 1 2 3 --dry-run`), run as one `sh -c` from the "
                                "project root:\n\n```sh\n"
                                + script.replace(repo, f"{PREFIX}/iter-PID") + "```")
        before = self.ids_of(repo)
        binary = str(self.warm_target / "debug" / "xtask")
        xenv = dict(self.env, DOCKER_IMAGE=repo)
        direct_cmd = ["sh", "-c", script]
        # One untimed round of each, then A, B, C interleaved run by run.
        self.xtask(["stages", "0", "1", "2", "3"], **env)
        self.run(direct_cmd, self.project)
        self.run([binary, "stages", "0", "1", "2", "3"], self.project, xenv)
        a, b, c = [], [], []
        # Three times the runs of the other figures: each round takes a second or
        # two, and this ratio is the one machine noise moves most.
        for i in range(3 * self.runs):
            a.append(self.xtask(["stages", "0", "1", "2", "3"], **env)[0])
            b.append(self.run(direct_cmd, self.project)[0])
            c.append(self.run([binary, "stages", "0", "1", "2", "3"], self.project, xenv)[0])
            log(f"  run {i + 1}: cargo xtask {a[-1]:.3f} s, direct {b[-1]:.3f} s, "
                f"binary {c[-1]:.3f} s")
        after = self.ids_of(repo)
        if before != after:
            self.table.notes.append("WARNING: figure 2 rebuilt images (ids changed); "
                                    "the builds were not all cached")
            self.remember(repo)
        t = self.table
        t.times("2. `cargo xtask stages 0 1 2 3`, nothing changed", a)
        t.times("2. the same 4 `docker build` run directly (`sh -c`)", b)
        self.ratios[f"overhead/{t.builder}"] = t.ratio("2. overhead ratio: xtask / direct (target <= 1.03)", a, b)
        t.times("2. (diag) `target/debug/xtask stages 0 1 2 3`, no cargo", c)
        t.ratio("2. (diag) overhead ratio without cargo: binary / direct", c, b)
        self.trace_overhead(env, direct_cmd, binary, xenv, a, b, c)

    def trace_overhead(self, env, direct_cmd, binary, xenv, a, b, c) -> None:
        """Counts and times the docker and git processes each variant spawns,
        through wrappers first on PATH (untimed runs: the wrappers cost a bit)."""
        wrap = self.tmp / "wrap"
        wrap.mkdir(exist_ok=True)
        trace = self.tmp / "trace.tsv"
        for tool, real in (("docker", self.docker), ("git", self.git)):
            if not real:
                continue
            script = (f"#!/bin/sh\ns=$(date +%s%N)\n{shlex.quote(real)} \"$@\"\nrc=$?\n"
                      f"e=$(date +%s%N)\nprintf '%s\\t%s\\t%s\\t%s\\n' {tool} \"$s\" \"$e\" \"$*\" "
                      f">> {shlex.quote(str(trace))}\nexit $rc\n")
            (wrap / tool).write_text(script)
            (wrap / tool).chmod(0o755)

        def traced(cmd, cmd_env):
            trace.write_text("")
            # The engine is named by path (DOCKER, and in the printed commands):
            # the wrapper stands in for it there too.
            e = dict(cmd_env, PATH=f"{wrap}:{cmd_env.get('PATH', '')}", DOCKER=str(wrap / "docker"))
            cmd = [c.replace(self.docker, str(wrap / "docker")) for c in cmd]
            secs, _, _ = self.run(cmd, self.project, e)
            kinds: dict[str, list[float]] = {}
            for line in trace.read_text().splitlines():
                tool, s, e_, args = line.split("\t", 3)
                kind = process_kind(tool, args.split())
                kinds.setdefault(kind, []).append((int(e_) - int(s)) / 1e9)
            return secs, kinds

        label = self.table.labels.get(self.table.builder, self.table.builder)
        for name, cmd, cmd_env in (
                ("cargo xtask stages 0 1 2 3", ["cargo", "xtask", "stages", "0", "1", "2", "3"],
                 self.xtask_env(**env)),
                ("target/debug/xtask stages 0 1 2 3", [binary, "stages", "0", "1", "2", "3"], xenv),
                ("direct sh -c (4 docker build)", direct_cmd, self.env)):
            secs, kinds = traced(cmd, cmd_env)
            spawned = sum(len(v) for v in kinds.values())
            in_children = sum(sum(v) for v in kinds.values())
            detail = ", ".join(f"{k}: {len(v)} x {statistics.mean(v) * 1000:.0f} ms"
                               for k, v in sorted(kinds.items()))
            self.trace_rows.append(f"| {label} | {name} | {secs:.3f} s | {spawned} | "
                                   f"{in_children:.3f} s | {secs - in_children:.3f} s | {detail} |")
        cargo_share = statistics.median(a) - statistics.median(c)
        tool_share = statistics.median(c) - statistics.median(b)
        self.trace_shares.append(
            f"{label}: `cargo xtask` - direct = "
            f"{(statistics.median(a) - statistics.median(b)) * 1000:.0f} ms, of which cargo "
            f"(`cargo run` start-up, fingerprint check) = {cargo_share * 1000:.0f} ms and the "
            f"xtask binary itself = {tool_share * 1000:.0f} ms.")

    def overhead_breakdown(self) -> None:
        """Every builder's traced runs of figure 2 in one table (under the main one)."""
        if not self.trace_rows:
            return
        self.diagnostics.append(
            "Overhead breakdown of figure 2 (one traced run of each variant, through "
            "`docker`/`git` wrappers first on PATH; the wrappers add about a millisecond per "
            "process):\n\n"
            "| builder (engine) | variant | wall | processes | in docker/git | outside them "
            "| processes spawned |\n"
            "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(self.trace_rows)
            + "\n\nFrom the medians of figure 2:\n\n"
            + "\n".join(f"- {line}" for line in self.trace_shares))

    # ----------------------------------------------------------------- figure 5

    def scaling(self) -> None:
        log("figure 5: scaling of generation")
        t = self.table
        for n in (5, 50, 500):
            stages_dir = f"bench-sets/gen{n}"
            write_snippets(self.project / stages_dir, generation_snippets(n))
            env = {"STAGES_DIR": stages_dir, "DOCKER_IMAGE": f"{PREFIX}/gen{n}-{self.pid}"}
            self.xtask(["dockerfile"], **env)
            steady, fresh = [], []
            for i in range(self.runs):
                steady.append(self.xtask(["dockerfile"], **env)[0])
                shutil.rmtree(self.project / stages_dir / "generated")
                fresh.append(self.xtask(["dockerfile"], **env)[0])
            log(f"  {n} snippets: up to date {statistics.median(steady):.3f} s, "
                f"from scratch {statistics.median(fresh):.3f} s")
            t.times(f"5. `cargo xtask dockerfile`, {n} snippets, nothing to write", steady)
            t.times(f"5. `cargo xtask dockerfile`, {n} snippets, generated/ removed first", fresh)
            if n == 500:
                binary = str(self.warm_target / "debug" / "xtask")
                e = dict(self.env, **env)
                direct = [self.run([binary, "dockerfile"], self.project, e)[0]
                          for _ in range(self.runs)]
                t.times("5. (diag) `target/debug/xtask dockerfile`, 500 snippets, nothing to "
                        "write, no cargo", direct)
                chain = sum(f.stat().st_size for f in
                            (self.project / stages_dir / "generated").glob("Dockerfile.stage*"))
                main = (self.project / "Dockerfile").stat().st_size
                self.diagnostics.append(
                    f"Scaling: with {n} snippets (each declaring one ARG, so chain file k "
                    f"re-declares k ARGs) the main Dockerfile is {fmt_bytes(main)} and the "
                    f"{n} chain files {fmt_bytes(chain)} in all.")
        shutil.rmtree(self.project / "bench-sets", ignore_errors=True)

    # ----------------------------------------------------------------- figure 4

    def context(self) -> None:
        log("figure 4: build context of the repository with its target/ (hard-link copy)")
        copy = self.tmp / "context" / "repo"

        def link_or_copy(src, dst):
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

        try:
            if not copy.exists():  # one copy serves every builder
                shutil.copytree(REPO, copy, symlinks=True, copy_function=link_or_copy)
        except shutil.Error as err:  # files that vanished under a concurrent cargo build
            log(f"  {len(err.args[0])} files could not be copied (changing while copied)")
        # The legacy builder sends the whole context whatever the Dockerfile;
        # BuildKit only what a step reads, so there a step reads all of it.
        reads_all = "" if self.table.builder == "legacy" else \
            "RUN --mount=type=bind,target=/context true\n"
        (copy / "bench-context.Dockerfile").write_text(f"FROM {BASE_IMAGE}\n{reads_all}")
        ignore = copy / ".dockerignore"
        saved = ignore.read_bytes() if ignore.exists() else None
        env = self.env
        # Tagged, so that the clean-up removes what BuildKit's step makes.
        repo = self.own_repo(f"context-{self.table.builder.lower()}")
        sizes = {True: [], False: []}
        times = {True: [], False: []}
        for i in range(self.runs):
            for with_ignore in (True, False):
                if with_ignore and saved is not None:
                    ignore.write_bytes(saved)
                elif ignore.exists():
                    ignore.unlink()
                secs, _, text = self.run([self.docker, "build", "-t", f"{repo}:ctx", "-f",
                                          "bench-context.Dockerfile", "."], copy, env)
                self.remember(repo)  # the image the tag leaves is removed at the end too
                # The legacy builder says it once; BuildKit as it goes (the last is the total).
                sent = re.findall(r"(?:Sending build context to Docker daemon|"
                                  r"transferring context:)\s+([\d.]+\s*[kKMGTP]?B)", text)
                if not sent:
                    raise BenchError("neither `Sending build context` nor `transferring context` "
                                     "in the build's output")
                sizes[with_ignore].append(parse_docker_size(sent[-1]))
                times[with_ignore].append(secs)
        if saved is not None:
            ignore.write_bytes(saved)
        du = {d: tree_size(copy / d) for d in ("target", ".git")}
        diag = (
            "Build context: the repository copied with hard links (" + ", ".join(
                f"`{d}/` {fmt_bytes(s)} on disk" for d, s in du.items()) +
            f"); `.dockerignore` used: `{' '.join((saved or b'').decode().split())}`.")
        if diag not in self.diagnostics:
            self.diagnostics.append(diag)
        t = self.table
        t.bytes("4. build context sent, with `.dockerignore`", sizes[True])
        t.bytes("4. build context sent, without `.dockerignore`", sizes[False])
        self.ratios[f"context/{t.builder}"] = t.ratio("4. context ratio: without / with", sizes[False],
                                         sizes[True], fmt=fmt_bytes)
        t.times("4. `docker build` there that reads the context, with `.dockerignore`", times[True])
        t.times("4. the same, without `.dockerignore`", times[False])

    # ----------------------------------------------------------------- figure 6

    def daily_loop(self) -> None:
        """`status` at 5 and 50 stages and `prune` with 50 dangling images,
        each beside the engine command it cannot do without (the floor), on
        the builder `use_builder` chose (its DOCKER and DOCKER_BUILDKIT)."""
        t = self.table
        log(f"figure 6: the daily loop ({t.builder})")
        for n in (5, 50):
            stages_dir = f"bench-sets/loop{n}"
            write_snippets(self.project / stages_dir, status_snippets(n))
            repo = self.own_repo(f"loop{n}-{t.builder.lower()}")
            env = {"STAGES_DIR": stages_dir, "DOCKER_IMAGE": repo}
            log(f"  building {n} ENV-only stages and the full image (untimed)")
            self.xtask(["stages"], **env)
            self.remember(repo)
            _, _, text = self.xtask(["status"], **env)
            rows = [line for line in text.splitlines() if repo in line]
            if len(rows) != n + 1 or not all(r.endswith("fresh") for r in rows):
                t.notes.append(f"WARNING: status of {n} stages ({t.builder}): not every row fresh")
            status, floor = [], []
            for _ in range(self.runs):
                status.append(self.xtask(["status"], **env)[0])
                floor.append(self.run([self.docker, "image", "ls", repo], self.project)[0])
            t.times(f"6. `cargo xtask status`, {n} stages and the full image, all fresh", status)
            t.times(f"6. `docker image ls <repository>` ({n} stages' tags: the floor)", floor)
            t.ratio(f"6. status / `docker image ls`, {n} stages", status, floor)
        self.prune_figure()

    def make_dangling(self, repo: str, count: int, round_: int) -> list[str]:
        """`count` untagged images labelled as former images of `repo`
        (untimed): each imported from an empty tar without a tag. An import is
        ten times quicker than a build, and prune does not care how an image
        was made, only that it is untagged and labelled. (Not one tag that each
        import takes from the one before: the containerd store of the modern
        engine drops an image whose tag goes, and no dangling image stays.)"""
        empty = self.tmp / "empty.tar"
        if not empty.exists():
            (self.tmp / "empty-dir").mkdir(exist_ok=True)
            self.out(["tar", "-C", str(self.tmp / "empty-dir"), "-cf", str(empty), "."])
        ids = []
        for j in range(count):
            digest = f"{round_:032x}{j:032x}"
            label = f"LABEL xtask.stages=dockerfile=sha256:{digest};parent=;image={repo}"
            image_id = self.out([self.docker, "import", "-c", label,
                                 str(empty)]).strip().splitlines()[-1]
            ids.append(image_id)
            self.engine.ids.append(image_id)
        return ids

    def prune_figure(self) -> None:
        t = self.table
        repo = self.own_repo(f"prune-{t.builder.lower()}")
        env = {"DOCKER_IMAGE": repo}
        listing = [self.docker, "image", "ls", "--no-trunc", "--quiet", "--filter",
                   "dangling=true", "--filter", "label=xtask.stages"]
        dry, real, floor_ls, floor_rm = [], [], [], []
        for i in range(self.runs):
            log(f"  prune round {i + 1}: making 50 dangling images twice (untimed)")
            self.make_dangling(repo, 50, 2 * i)
            dry.append(self.xtask(["prune", "--dry-run"], **env)[0])
            floor_ls.append(self.run(listing, self.project)[0])
            secs, _, text = self.xtask(["prune"], **env)
            real.append(secs)
            if "removed 50 images" not in text:
                t.notes.append(f"WARNING: prune ({t.builder}) did not remove the 50 images: "
                               + text.strip().splitlines()[-1])
            ids = self.make_dangling(repo, 50, 2 * i + 1)
            floor_rm.append(self.run([self.docker, "image", "rm", *ids], self.project)[0])
        t.times("6. `cargo xtask prune --dry-run`, 50 dangling images", dry)
        t.times("6. `docker image ls --filter dangling=true --filter label=...` (the floor)",
                floor_ls)
        t.times("6. `cargo xtask prune`, 50 dangling images removed", real)
        t.times("6. `docker image rm` of the same 50 ids in one command (the floor)", floor_rm)
        t.ratio("6. prune / `docker image rm` of 50 images", real, floor_rm)

    # ----------------------------------------------------------------- figure 7

    def start_registry(self) -> str:
        """A real local registry, as the tests use: Debian's `docker-registry`
        on 127.0.0.1 (every engine talks plain HTTP to a loopback registry),
        its storage in the temp folder. Stopped at the clean-up, by the pid of
        the process started here. Returns its `host:port`."""
        if self.registry_host:
            return self.registry_host
        program = next((p for p in ("/usr/bin/docker-registry", "/usr/sbin/docker-registry")
                        if Path(p).exists()), None)
        if program is None:
            raise BenchError("figure 7 needs a local registry: "
                             "`sudo apt-get install docker-registry`")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        host = f"127.0.0.1:{port}"
        folder = self.tmp / "registry"
        folder.mkdir(exist_ok=True)
        config = folder / "config.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                          f"    rootdirectory: {folder / 'data'}\nhttp:\n  addr: {host}\n"
                          f"  secret: xtask-bench\n")
        logfile = self.logs / "registry.log"
        with open(logfile, "wb") as out:
            self.registry = subprocess.Popen([program, "serve", str(config)],
                                             stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.registry.poll() is not None or time.monotonic() > deadline:
                    said = logfile.read_text(errors="replace").strip()[-1500:]
                    raise BenchError(f"the registry did not start on {host}: {said}")
                time.sleep(0.05)
        log(f"  a local registry on {host} (pid {self.registry.pid})")
        self.registry_host = host
        return host

    def stop_registry(self) -> None:
        if self.registry is None:
            return
        self.registry.terminate()
        try:
            self.registry.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.registry.kill()
            self.registry.wait()
        self.registry = None

    def clear_repos(self, *repos: str) -> None:
        """Removes every image of `repos` from the current engine (untimed):
        a fresh engine as far as this project goes (the base image stays).
        One `docker image rm` of every tag, the full image's and the highest
        stages' first; the legacy builder's intermediate images go with the
        last image built on them."""
        refs = []
        for repo in repos:
            self.remember(repo)  # what a removal cannot take is removed at the end
            refs += [f"{repo}:{tag}" for tag in self.ids_of(repo)]
        if refs:
            self.out([self.docker, "image", "rm", *sorted(refs, reverse=True)], lenient=True)
        left = [ref for repo in repos for ref in self.ids_of(repo)]
        if left:
            raise BenchError(f"figure 7: images of {', '.join(repos)} are still on the "
                             f"{self.engine.name} engine after `docker image rm`: {left}")

    def team_cache(self, pusher: str) -> None:
        """`cargo xtask stages 3 --pull` on a fresh engine with the key tags in
        the registry, beside the same command with none there (every stage
        built, as without a team cache), round by round on the current
        builder. Each round's snippets are new (a round value in stage 0), so
        that their keys and layers are in no engine's images or build cache:
        BuildKit's cache outlives `docker image rm`. Before each round,
        `pusher` (the other engine's builder when there is one: a teammate or
        CI) runs `cargo xtask stages --push` with those snippets."""
        t = self.table
        measured = t.builder
        log(f"figure 7: team cache ({measured}; key tags pushed from {pusher})")
        host = self.start_registry()
        cached = f"{host}/{PREFIX}/cache-{self.pid}"
        empty = f"{host}/{PREFIX}/no-cache-{self.pid}"  # a repository nothing is pushed to
        for name in {measured, pusher}:
            engine = self.engines[self.builders[name]["engine"]]
            engine.repos += [r for r in (cached, empty) if r not in engine.repos]
        stages_dir = "bench-sets/cache"
        same_engine = self.builders[pusher]["engine"] == self.builders[measured]["engine"]
        pushes, pulled, built = [], [], []
        for i in range(self.runs):
            write_snippets(self.project / stages_dir, cache_snippets(f"{self.pid}-{measured}-{i}"))
            with self.on_builder(pusher):
                self.clear_repos(cached, empty)
                self.write_code(3 * i)
                secs, _, text = self.xtask(["stages", "--push"], STAGES_DIR=stages_dir,
                                           DOCKER_IMAGE=cached)
                pushes.append(secs)
                self.clear_repos(cached)
            # Both sides after a code change of their own, on an engine that
            # holds none of the project's images.
            sides = ((cached, pulled, {"2": "pulled", "3": "built"}),
                     (empty, built, {str(n): "built" for n in range(4)}))
            for k, (repo, dest, expected) in enumerate(sides):
                self.clear_repos(cached, empty)
                self.write_code(3 * i + 1 + k)
                secs, _, text = self.xtask(["stages", "3", "--pull"], STAGES_DIR=stages_dir,
                                           DOCKER_IMAGE=repo)
                dest.append(secs)
                got = summary_outcomes(text)
                if got != expected:
                    t.notes.append(f"WARNING: figure 7 ({measured}), round {i + 1}, "
                                   f"{'key tags' if repo == cached else 'empty registry'}: "
                                   f"expected {expected}, the summary says {got}")
            log(f"  run {i + 1}: push (on {pusher}) {pushes[-1]:.2f} s, with key tags "
                f"{pulled[-1]:.2f} s, empty registry {built[-1]:.2f} s")
        self.clear_repos(cached, empty)
        if same_engine:
            t.notes.append(f"Note: figure 7 ({measured}): the key tags were pushed from the "
                           "same engine (no other engine in this run), whose build cache may "
                           "hold the pulled layers.")
        t.times("7. `cargo xtask stages 3 --pull`, fresh engine, key tags in the registry "
                "(stage 2 pulled, 3 built)", pulled)
        t.times("7. the same, empty registry (stages 0-3 built: no team cache)", built)
        self.ratios[f"cache/{measured}"] = t.ratio(
            "7. team cache ratio: key tags / empty registry", pulled, built)
        t.times("7. (diag) `cargo xtask stages --push` of the same snippets beforehand, "
                + ("on the same engine" if same_engine else "on the other engine"), pushes)

    def pusher_for(self, name: str) -> str:
        """Who pushes the key tags figure 7 pulls: a builder of the other
        engine when this run has one (what one machine built, another pulls),
        else `name` itself."""
        engine = self.builders[name]["engine"]
        others = [b for b in BUILDERS if b in self.builders and self.builders[b]["engine"] != engine]
        return others[0] if others else name

    # ----------------------------------------------------------------- main

    def main(self) -> None:
        # The engines every figure that builds needs: the first one always
        # (as before), the modern one when a figure builds and it is wanted.
        self.ensure_base(self.engines["first"])
        if "modern" in self.wanted and self.only & BUILDING_FIGURES:
            self.start_modern()
            self.ensure_base(self.engines["modern"])
        for name, spec in self.builders.items():
            engine = self.engines[spec["engine"]]
            self.table.labels[name] = (f"{name} ({engine.version}: buildx, containerd store)"
                                       if name == "modern" else f"{name} ({engine.version})")
        self.make_project()
        if 3 in self.only:
            self.tool_cost()
        if self.only & {1, 2, 5, 6}:
            self.build_warm_xtask()
            self.xtask(["dockerfile"])
        if 5 in self.only:
            self.scaling()
        # Every figure that builds, once per builder, one builder after the other.
        for name in [b for b in BUILDERS if b in self.builders]:
            self.use_builder(name)
            if self.only & {1, 2}:
                repo = self.own_repo(f"iter-{name.lower()}")
                if 1 in self.only:
                    self.iteration(repo)
                if 2 in self.only:
                    self.overhead(repo)
            if 4 in self.only:
                self.context()
            if 6 in self.only:
                self.daily_loop()
            # Figure 7 once per engine, on its first builder: the first engine's
            # legacy builder and the modern engine (a push and two builds of
            # every stage per round make it the slowest figure).
            engine = self.builders[name]["engine"]
            if 7 in self.only and name == next(b for b in BUILDERS if b in self.builders
                                               and self.builders[b]["engine"] == engine):
                self.team_cache(self.pusher_for(name))
        self.use_builder("-")


def process_kind(tool: str, words: list[str]) -> str:
    """`docker build`, `docker image inspect`, `git config`: what a traced process was."""
    if tool == "git":
        words = words[2:] if words[:1] == ["-C"] else words
        return f"git {words[0] if words else ''}"
    if words[:1] in (["image"], ["container"]):
        return "docker " + " ".join(words[:2])
    return "docker " + (words[0] if words else "")


def tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# --------------------------------------------------------------------------- snippets


def write_snippets(folder: Path, snippets: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, text in enumerate(snippets):
        (folder / f"Dockerfile.stage{n}").write_text(text)


def iteration_snippets() -> list[str]:
    """Four stages, each injecting the code; stages 1 and 2 take about 3 s each."""
    return [
        f"# Stage 0: base image + code injection.\nFROM {BASE_IMAGE}\nWORKDIR /app\nCOPY . /app\n",
        "# Stage 1: code injection + OS packages (slow: about 3 s).\nCOPY . /app\n"
        "RUN sleep 3 && mkdir -p /opt && seq 1 200000 > /opt/os-packages.txt\n",
        "# Stage 2: code injection + app packages (slow: about 3 s).\nCOPY . /app\n"
        "RUN sleep 3 && seq 1 200000 | md5sum > /opt/app-packages.txt\n",
        "# Stage 3: code injection + app setup (fast).\nCOPY . /app\n"
        "RUN wc -c /app/app/code.txt > /opt/app-setup.txt\n",
    ]


def cache_snippets(nonce: str) -> list[str]:
    """Four stages for the team cache (figure 7), each injecting the code:
    stages 0-2 do real work, about a second each and 3 MB of random bytes
    (incompressible: a push and a pull move them for real); stage 3 is quick
    app setup. `nonce` (an ENV of stage 0) makes every round's keys, and every
    build step after it, new."""
    work = "sleep 1 && head -c 3000000 /dev/urandom > /opt/{}.bin"
    return [
        f"# Stage 0: base image + code injection + base setup (about 1 s, 3 MB).\n"
        f"FROM {BASE_IMAGE}\nENV BENCH_ROUND={nonce}\nWORKDIR /app\nCOPY . /app\n"
        f"RUN mkdir -p /opt && {work.format('base-setup')}\n",
        "# Stage 1: code injection + OS packages (about 1 s, 3 MB).\nCOPY . /app\n"
        f"RUN {work.format('os-packages')}\n",
        "# Stage 2: code injection + app packages (about 1 s, 3 MB).\nCOPY . /app\n"
        f"RUN {work.format('app-packages')}\n",
        "# Stage 3: code injection + app setup (fast).\nCOPY . /app\n"
        "RUN wc -c /app/app/code.txt > /opt/app-setup.txt\n",
    ]


def summary_outcomes(text: str) -> dict[str, str]:
    """The closing summary of `cargo xtask stages`: stage (`0`, ..., `full`)
    to outcome (built, pulled, tagged, failed, not built)."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        for fate in ("not built", "built", "pulled", "tagged", "failed"):
            if words and line.endswith("  " + fate) and (words[0].isdigit() or words[0] == "full"):
                out[words[0]] = fate
                break
    return out


def generation_snippets(n: int) -> list[str]:
    """`n` snippets for generation alone (never built): each declares an ARG,
    so chain file k re-declares k ARGs, the heaviest case for the chain."""
    out = [f"# Stage 0 of {n}.\nARG BASE_IMAGE={BASE_IMAGE}\nFROM ${{BASE_IMAGE}}\n"
           "ARG APP_ENV_NAME=dev\nWORKDIR /app\nCOPY . /app\n"]
    for k in range(1, n):
        out.append(f"# Stage {k} of {n}: a generated snippet.\nARG STEP_{k}={k}\n"
                   f"ENV STEP_{k}=${{STEP_{k}}}\n"
                   f"RUN echo \"stage {k} for ${{APP_ENV_NAME}}\" \\\n"
                   f"    && echo \"${{STEP_{k}}}\" > /tmp/stage-{k}.txt\n")
    return out


def status_snippets(n: int) -> list[str]:
    """`n` ENV-only stages: cheap to build, so `status` finds every image."""
    return [f"FROM {BASE_IMAGE}\nENV STAGE_0=0\n"] + [f"ENV STAGE_{k}={k}\n" for k in range(1, n)]


# --------------------------------------------------------------------------- machine


def machine(bench: Bench) -> list[str]:
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    servers = "; ".join(f"{name}: {e.info}" for name, e in bench.engines.items())
    # `docker version` prints the client's even where the server is gone.
    clients = ", ".join(
        f"{name}: `{b['DOCKER']}` {sh([b['DOCKER'], 'version', '--format', '{{.Client.Version}}'])} "
        f"with DOCKER_BUILDKIT={b.get('DOCKER_BUILDKIT', 'unset')}"
        for name, b in bench.builders.items())
    return [
        f"- CPUs (nproc): {sh(['nproc'])} ({cpu})",
        f"- memory: {mem}",
        f"- docker servers: {servers}",
        f"- builders (the client the xtask is given as DOCKER): {clients}",
        f"- kernel: {platform.release()} ({platform.system()} {platform.machine()})",
        f"- {sh(['cargo', '--version'])}, {sh(['rustc', '--version'])}, Python {platform.python_version()}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="timed runs per figure (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 runs per figure, for development")
    parser.add_argument("--only", default=",".join(map(str, FIGURES)),
                        help="figures to measure, e.g. 1,2 (default: all)")
    parser.add_argument("--builders", default=",".join(BUILDERS),
                        help="builders the figures that build run on (default: "
                        f"{','.join(BUILDERS)}; leave out modern where it cannot start)")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the output of every command run (in a folder named at the end)")
    parser.add_argument("--rev", help="benchmark the xtask as committed in this git revision "
                        "(e.g. HEAD, or HEAD~1 for a before/after) instead of the working tree")
    parser.add_argument("--target-root", type=Path,
                        help="where the bench's own cargo target dirs go (default: its temp folder)")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 5)
    if runs < 1:
        parser.error("--runs must be at least 1")
    numbers = ",".join(map(str, FIGURES))
    try:
        only = {int(x) for x in args.only.replace(" ", ",").split(",") if x}
    except ValueError:
        parser.error(f"--only takes figure numbers: {numbers}")
    if not only or not only <= set(FIGURES):
        parser.error(f"--only takes figure numbers: {numbers}")
    wanted = [b.strip() for b in args.builders.split(",") if b.strip()]
    if not wanted or not set(wanted) <= set(BUILDERS):
        parser.error(f"--builders takes some of: {','.join(BUILDERS)}")
    if not (REPO / "xtask" / "src" / "main.rs").exists():
        print(f"error: {REPO} does not hold xtask/src", file=sys.stderr)
        return 2

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    command = "python3 bench/bench.py" + "".join(" " + shlex.quote(a) for a in sys.argv[1:])
    started = time.time()
    bench = Bench(runs, args.target_root, only, wanted)
    bench.keep_logs = args.keep_logs
    bench.rev = args.rev
    if args.rev:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.rev],
                                capture_output=True, text=True)
        if commit.returncode != 0:
            parser.error(f"--rev {args.rev}: not a git revision of {REPO}")
        source = f"git revision {args.rev} ({commit.stdout.strip()})"
    else:
        status = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                 "xtask/src", "xtask/Cargo.toml", "Cargo.toml", "Cargo.lock"],
                                capture_output=True, text=True).stdout.strip()
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        source = f"working tree at {head or '?'}" + (" with uncommitted changes" if status else "")
    log(f"temp folder {bench.tmp}, cargo target dirs under {bench.target_root}, {runs} runs")
    code = 0
    try:
        bench.main()
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    finally:
        bench.cleanup()
    bench.overhead_breakdown()  # what was traced, also when the run stopped early
    if not bench.table.rows:
        return code or 1
    print(f"## cargo xtask benchmark ({runs} runs per figure)\n")
    print(bench.table.markdown())
    verdicts = []
    for name in bench.builders:
        r = bench.ratios.get(f"iteration/{name}")
        if r is not None:
            verdicts.append(f"{name} iteration ratio {r:.3f} "
                            f"({'meets' if r < 0.35 else 'MISSES'} < 0.35)")
        r = bench.ratios.get(f"overhead/{name}")
        if r is not None:
            verdicts.append(f"{name} overhead ratio {r:.3f} "
                            f"({'meets' if r <= 1.03 else 'MISSES'} <= 1.03)")
    if verdicts:
        print("\nTargets: " + "; ".join(verdicts) + ".")
    print("\nmedian/min/max are over the runs; for a ratio row, median = median(a) / median(b) "
          "(shown in the last column) and min/max are the extremes of the run-by-run ratios.")
    if bench.warnings:
        print("\nWarnings printed during the `cargo xtask` runs (by the xtask or by cargo):\n")
        print("\n".join(f"- `{w}`" for w in bench.warnings))
    for note in bench.table.notes:
        print(f"\n{note}")
    for diag in bench.diagnostics:
        print(f"\n{diag}")
    print("\nMachine:\n")
    print("\n".join(machine(bench)))
    print(f"- xtask measured: {source}")
    print(f"\nCommand (from the repository root): `{command}`; "
          f"took {time.time() - started:.0f} s on {time.strftime('%Y-%m-%d %H:%M %Z')}.")
    return code


if __name__ == "__main__":
    sys.exit(main())

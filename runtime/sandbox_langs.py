"""How the sandbox compiles and runs a program in each language other than Python (``kizami.runtime.sandbox``).

Commands name ``{src}`` (the source file, read-only to the program), ``{work}`` (its writable folder, also its HOME
and TMPDIR) and ``{heap}`` (MiB for a runtime's own heap limit).

Memory: ``RLIMIT_AS`` limits *reserved* address space. Native programs (C++, Rust, Go: its runtime reserves lazily),
the interpreters and node start well under ``memory_mb`` (node also gets a heap cap, so a huge allocation fails as an
error rather than by the kernel). The JVM reserves a compressed class space (1 GiB by default), a code cache and
metaspace up front, so it cannot start under a 2 GiB ``RLIMIT_AS``: its reservations are shrunk by flags, its heap is
``-Xmx`` = half of ``memory_mb`` and its ``RLIMIT_AS`` gets ``extra_memory_mb`` on top for what lies outside the heap.
Threads count against ``RLIMIT_NPROC`` (per uid, across all programs running at once): the JVM, ``go build`` and
rustc start dozens, so they get ``min_processes``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Runner", "RUNNERS", "JVM_FLAGS"]

# Reservations small enough for RLIMIT_AS; one JIT tier and a serial GC (fewer threads, faster start on small programs);
# no hsperfdata file in /tmp, the program's temp files in its own folder.
JVM_FLAGS = ("-Xmx{heap}m", "-Xss16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=64m",
             "-XX:CompressedClassSpaceSize=64m", "-XX:MaxMetaspaceSize=192m", "-XX:-UsePerfData",
             "-Djava.io.tmpdir={work}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Runner:
    file_name: str
    run: tuple[str, ...]
    compile: tuple[str, ...] = ()  # () = interpreted
    env: tuple[tuple[str, str], ...] = ()
    min_processes: int = 0
    extra_memory_mb: int = 0


_NODE = ("node", "--max-old-space-size={heap}")
_NATIVE = ("{work}/program",)

RUNNERS: dict[str, Runner] = {
    "js": Runner(file_name="program.js", run=(*_NODE, "{src}")),
    "ts": Runner(file_name="program.ts", run=(*_NODE, "{work}/program.js"),
                 compile=("tsc", "--target", "es2020", "--module", "commonjs", "--skipLibCheck", "--outDir", "{work}", "{src}")),
    "cpp": Runner(file_name="program.cpp", run=_NATIVE, compile=("g++", "-std=c++17", "-o", "{work}/program", "{src}")),
    "java": Runner(file_name="Problem.java", run=("java", *JVM_FLAGS, "-cp", "{work}", "Problem"),
                   compile=("javac", *(f"-J{f}" for f in JVM_FLAGS), "-encoding", "UTF-8", "-d", "{work}", "{src}"),
                   min_processes=256, extra_memory_mb=1024),
    "go": Runner(file_name="program.go", run=_NATIVE, compile=("go", "build", "-o", "{work}/program", "{src}"),
                 env=(("GOCACHE", "{work}/.cache/go-build"), ("GOPATH", "{work}/go"), ("GO111MODULE", "off"),
                      ("CGO_ENABLED", "0")), min_processes=256),
    "rs": Runner(file_name="program.rs", run=_NATIVE, min_processes=256,
                 compile=("rustc", "--edition", "2021", "-A", "warnings", "-o", "{work}/program", "{src}")),
    "php": Runner(file_name="program.php", run=("php", "{src}")),
    "rb": Runner(file_name="program.rb", run=("ruby", "{src}")),
    "pl": Runner(file_name="program.pl", run=("perl", "{src}")),
    "sh": Runner(file_name="program.sh", run=("bash", "{src}")),
    "r": Runner(file_name="program.r", run=("Rscript", "--vanilla", "{src}")),
}

"""The sandbox in every other language: a hostile program (writes outside its folder, opens a connection, leaves a
child or spins forever) is contained as the Python one is; compile errors, early exits and missing toolchains are
reported in one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import kizami.core.languages
from kizami.core.errors import BackendUnavailable
from kizami.runtime.sandbox import Program, SandboxConfig, isolation, run_program, run_programs
from tests.calib_data.test_multipl import _available
from tests.runtime.test_sandbox import _sandbox_processes, _separated, sb_root  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the sandbox needs POSIX process groups and rlimits")

# Each writes "write-ok"/"write-denied" after trying to overwrite CANARY, "net-ok"/"net-denied" after trying to
# connect to 1.1.1.1:80, then spins forever (some leave a child behind first).
HOSTILE = {
    "js": """const fs = require("fs"), net = require("net");
try { fs.writeFileSync("CANARY", "pwned"); console.log("write-ok"); } catch (e) { console.log("write-denied"); }
const spin = () => { for (;;) {} };
const s = net.connect({host: "1.1.1.1", port: 80});
s.on("connect", () => { console.log("net-ok"); spin(); });
s.on("error", () => { console.log("net-denied"); spin(); });
""",
    "ts": """declare function require(name: string): any;
const fs = require("fs"), net = require("net");
try { fs.writeFileSync("CANARY", "pwned"); console.log("write-ok"); } catch (e) { console.log("write-denied"); }
const spin = (): void => { for (;;) {} };
const s = net.connect({host: "1.1.1.1", port: 80});
s.on("connect", () => { console.log("net-ok"); spin(); });
s.on("error", () => { console.log("net-denied"); spin(); });
""",
    "cpp": """#include <fstream>
#include <iostream>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>
int main() {
    std::ofstream f("CANARY");
    std::cout << (f ? "write-ok" : "write-denied") << std::endl;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(80);
    inet_pton(AF_INET, "1.1.1.1", &a.sin_addr);
    std::cout << (connect(s, (sockaddr*)&a, sizeof a) == 0 ? "net-ok" : "net-denied") << std::endl;
    fork();
    for (volatile long i = 0;; i++) {}
}
""",
    "java": """import java.io.*;
import java.net.*;
class Problem {
    public static void main(String[] args) {
        try (FileWriter w = new FileWriter("CANARY")) { w.write("pwned"); System.out.println("write-ok"); }
        catch (IOException e) { System.out.println("write-denied"); }
        try (Socket s = new Socket()) { s.connect(new InetSocketAddress("1.1.1.1", 80), 2000); System.out.println("net-ok"); }
        catch (IOException e) { System.out.println("net-denied"); }
        while (true) {}
    }
}
""",
    "go": """package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if err := os.WriteFile("CANARY", []byte("pwned"), 0644); err != nil {
		fmt.Println("write-denied")
	} else {
		fmt.Println("write-ok")
	}
	if c, err := net.DialTimeout("tcp", "1.1.1.1:80", 2*time.Second); err != nil {
		fmt.Println("net-denied")
	} else {
		c.Close()
		fmt.Println("net-ok")
	}
	for i := 0; ; i++ {
	}
}
""",
    "rs": """use std::net::TcpStream;
use std::time::Duration;
fn main() {
    match std::fs::write("CANARY", "pwned") { Ok(_) => println!("write-ok"), Err(_) => println!("write-denied") }
    match TcpStream::connect_timeout(&"1.1.1.1:80".parse().unwrap(), Duration::from_secs(2)) {
        Ok(_) => println!("net-ok"),
        Err(_) => println!("net-denied"),
    }
    loop {}
}
""",
    "php": """<?php
echo (@file_put_contents("CANARY", "pwned") === false ? "write-denied" : "write-ok"), "\\n";
echo (@fsockopen("1.1.1.1", 80, $errno, $errstr, 2) === false ? "net-denied" : "net-ok"), "\\n";
while (true) {}
""",
    "rb": """require "socket"
$stdout.sync = true
begin; File.write("CANARY", "pwned"); puts "write-ok"; rescue SystemCallError; puts "write-denied"; end
begin; Socket.tcp("1.1.1.1", 80, connect_timeout: 2) {}; puts "net-ok"; rescue SystemCallError, IOError, SocketError; puts "net-denied"; end
loop {}
""",
    "pl": """use IO::Socket::INET;
$| = 1;
print(open(my $f, ">", "CANARY") ? "write-ok\\n" : "write-denied\\n");
print(IO::Socket::INET->new(PeerAddr => "1.1.1.1", PeerPort => 80, Proto => "tcp", Timeout => 2) ? "net-ok\\n" : "net-denied\\n");
fork();
1 while 1;
""",
    "sh": """if echo pwned > "CANARY" 2>/dev/null; then echo write-ok; else echo write-denied; fi
if (exec 3<>/dev/tcp/1.1.1.1/80) 2>/dev/null; then echo net-ok; else echo net-denied; fi
for i in 1 2 3; do (sleep 60) & done
while :; do :; done
""",
    "r": """w <- tryCatch({ writeLines("pwned", "CANARY"); "write-ok" }, error = function(e) "write-denied",
              warning = function(e) "write-denied")
cat(w, "\\n", sep = ""); flush(stdout())
n <- tryCatch({ socketConnection("1.1.1.1", 80, open = "r+", timeout = 2); "net-ok" },
              error = function(e) "net-denied", warning = function(e) "net-denied")
cat(n, "\\n", sep = ""); flush(stdout())
repeat {}
""",
}


@pytest.fixture(scope="module")
def cfg(sb_root: Path) -> SandboxConfig:  # noqa: F811
    return SandboxConfig(timeout_s=3.0, compile_timeout_s=60, tmp_root=sb_root)


def test_hostile_programs_are_contained_in_every_language(tmp_path: Path, cfg: SandboxConfig,
                                                          sb_root: Path) -> None:  # noqa: F811
    if not _separated(cfg):
        pytest.skip(f"no uid or namespace separation here ({isolation(cfg)}): a hostile program could harm the run")
    languages = _available(sorted(HOSTILE))
    canary = tmp_path / "canary.txt"
    canary.write_text("secret-canary-7f3a")
    programs = [Program(HOSTILE[lang].replace("CANARY", str(canary)), lang) for lang in languages]
    results = dict(zip(languages, run_programs(programs, workers=2, config=cfg)))
    for lang, res in results.items():
        assert res.outcome == "timeout", (lang, res.detail, res.stderr[-300:])
        assert "write-denied" in res.stdout, (lang, res.stdout)
        if isolation(cfg).namespaces:
            assert "net-denied" in res.stdout, (lang, res.stdout)
    assert canary.read_text() == "secret-canary-7f3a"
    assert list(sb_root.iterdir()) == []
    assert _sandbox_processes(str(sb_root)) == []


def test_memory_is_limited_but_the_jvm_still_starts(cfg: SandboxConfig) -> None:
    progs = {"java": "class Problem { public static void main(String[] a) { long[] x = new long[2_000_000_000]; "
                     "System.out.println(x.length); } }",
             "cpp": "#include <vector>\nint main() { std::vector<char> x(100L << 30); return x[0]; }"}
    for lang in _available(sorted(progs)):
        res = run_program(Program(progs[lang], lang), cfg)
        assert res.outcome == "error", (lang, res)
        assert ("OutOfMemoryError" if lang == "java" else "bad_alloc") in res.stderr, (lang, res.stderr[-300:])


def test_compile_errors_and_early_exits_are_errors_with_one_line(cfg: SandboxConfig) -> None:
    if not _available(["cpp"]):
        pytest.skip("no g++")
    res = run_program(Program("int main() { return undeclared_name; }\n", "cpp"), cfg)
    assert res.outcome == "error" and res.detail.startswith("compile error: ") and "undeclared_name" in res.detail
    res = run_program(Program("int main() { return 0; }\n", "cpp"), cfg)  # exit 0 without the harness's marker
    assert res.outcome == "error" and "before the end of its tests" in res.detail
    res = run_program(Program('#include <iostream>\nint main() { std::cout << "x\\nkizami-done" << std::endl; }\n',
                              "cpp"), cfg)
    assert res.outcome == "passed" and res.stdout.strip() == "x"


def test_a_missing_toolchain_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               cfg: SandboxConfig) -> None:
    monkeypatch.setattr(kizami.core.languages, "SANDBOX_PATH", str(tmp_path))  # a PATH with no compilers on it
    with pytest.raises(BackendUnavailable, match=r"Go programs need go, .*apt-get install golang-go"):
        run_programs(["print(1)", Program("package main\nfunc main() {}\n", "go")], config=cfg)

"""scripts/system-deps.sh (run by `make test`): what it does on a machine that lacks the packages.

Each test runs the real script with PATH set to a private directory holding only the tools it
needs, so the machine's own mosquitto and openssl are hidden. apt-get, sudo and id there are
fakes that record their arguments; the fake apt-get "installs" a package by dropping stub commands
into that directory, the way the real one puts them on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "system-deps.sh"
# what the script itself runs, besides the fakes
REAL_TOOLS = ("bash", "env", "mktemp", "tail", "rm")
CHMOD = shutil.which("chmod") or "/bin/chmod"  # for the fake apt-get, by absolute path
COMMANDS = {"mosquitto": ("mosquitto", "mosquitto_passwd"), "openssl": ("openssl",)}


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


class FakeMachine:
    def __init__(self, root: Path, *, uid: int, installed: set[str], sudo: bool = True, apt: str = "ok"):
        self.bin = root / "bin"
        self.bin.mkdir()
        self.calls = root / "calls.log"
        self.calls.touch()
        for tool in REAL_TOOLS:
            real = shutil.which(tool)
            assert real, tool
            (self.bin / tool).symlink_to(real)
        for package in installed:
            self.install(package)
        _write(self.bin / "id", f'#!/bin/sh\n[ "$1" = "-u" ] && echo {uid}\n')
        stubs = "\n".join(
            f'    {pkg}) for c in {" ".join(cmds)}; do printf "#!/bin/sh\\n" > "{self.bin}/$c"; '
            f'{CHMOD} +x "{self.bin}/$c"; done ;;'
            for pkg, cmds in COMMANDS.items()
        )
        failing = 'echo "E: Unable to locate package $last" >&2; exit 100' if apt == "fail" else ""
        _write(
            self.bin / "apt-get",
            f"""#!/bin/bash
echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> "{self.calls}"
for last; do :; done
[ "$1" = install ] || exit 0
{failing}
for arg; do
  case "$arg" in
{stubs}
  esac
done
""",
        )
        if sudo:
            _write(
                self.bin / "sudo",
                f'#!/bin/bash\necho "sudo $*" >> "{self.calls}"\n[ "$1" = -n ] && shift\nexec "$@"\n',
            )

    def install(self, package: str) -> None:
        for command in COMMANDS[package]:
            _write(self.bin / command, "#!/bin/sh\n")

    def run(self) -> subprocess.CompletedProcess[str]:
        env = {"PATH": str(self.bin), "GRIDTAP_SBIN": "", "HOME": os.environ.get("HOME", "/")}
        return subprocess.run(
            [str(self.bin / "bash"), str(SCRIPT)],
            env=env,
            stdin=subprocess.DEVNULL,  # as under CI: no terminal, so sudo must not prompt
            capture_output=True,
            text=True,
            timeout=30,
        )

    def recorded(self) -> list[str]:
        return self.calls.read_text().splitlines()

    def has(self, command: str) -> bool:
        return (self.bin / command).exists()


def test_nothing_happens_when_everything_is_there(tmp_path: Path):
    m = FakeMachine(tmp_path, uid=1000, installed={"mosquitto", "openssl"})
    r = m.run()
    assert r.returncode == 0, r.stderr
    assert m.recorded() == []
    assert r.stderr == ""


def test_root_installs_the_missing_packages_with_apt_get(tmp_path: Path):
    m = FakeMachine(tmp_path, uid=0, installed={"openssl"})
    assert not m.has("mosquitto")
    r = m.run()
    assert r.returncode == 0, r.stderr
    assert m.recorded() == [
        "apt-get update -q DEBIAN_FRONTEND=noninteractive",
        "apt-get install -y -q --no-install-recommends mosquitto DEBIAN_FRONTEND=noninteractive",
    ]
    assert m.has("mosquitto") and m.has("mosquitto_passwd")


def test_mosquitto_without_mosquitto_passwd_counts_as_missing(tmp_path: Path):
    m = FakeMachine(tmp_path, uid=0, installed={"openssl"})
    _write(m.bin / "mosquitto", "#!/bin/sh\n")
    r = m.run()
    assert r.returncode == 0, r.stderr
    assert m.recorded()[-1].startswith("apt-get install -y -q --no-install-recommends mosquitto DEBIAN")


def test_a_user_goes_through_sudo_without_a_password_prompt(tmp_path: Path):
    m = FakeMachine(tmp_path, uid=1000, installed=set())
    r = m.run()
    assert r.returncode == 0, r.stderr
    calls = m.recorded()
    assert calls[0] == "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -q"
    assert calls[2] == (
        "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto openssl"
    )
    assert calls[1].startswith("apt-get update") and calls[3].startswith("apt-get install")
    assert m.has("openssl")


@pytest.mark.parametrize(
    "uid, sudo, apt, reason",
    [
        (0, True, "fail", "apt-get failed: E: Unable to locate package mosquitto"),
        (1000, False, "ok", "not root and no sudo"),
        (0, True, "missing", "no apt-get on this machine"),
    ],
)
def test_where_it_cannot_install_it_says_which_command_to_run(tmp_path: Path, uid, sudo, apt, reason):
    m = FakeMachine(tmp_path, uid=uid, installed={"openssl"}, sudo=sudo, apt=apt)
    if apt == "missing":
        (m.bin / "apt-get").unlink()
    r = m.run()
    assert r.returncode == 1
    last = r.stderr.splitlines()[-1]
    assert last == (
        f"make test needs the Debian packages mosquitto ({reason}); run: sudo apt-get install -y mosquitto"
    )
    assert not m.has("mosquitto")
    if not sudo or apt == "missing":
        assert m.recorded() == [] and len(r.stderr.splitlines()) == 1

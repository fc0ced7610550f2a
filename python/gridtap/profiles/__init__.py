"""The bundled device profiles, one TOML file per meter family, and loading of user profiles."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from gridtap.errors import ProfileError
from gridtap.profile import Block, Field, Profile, WriteAction, load_file, parse_profile, plan_reads

__all__ = ["Block", "Field", "Profile", "WriteAction", "load", "names", "parse_profile", "plan_reads"]

_DIR = Path(__file__).parent


def names() -> list[str]:
    """Names of the bundled profiles."""
    return sorted(p.stem for p in _DIR.glob("*.toml"))


@cache
def _bundled(name: str) -> Profile:
    return load_file(_DIR / f"{name}.toml")


@cache
def _aliases() -> dict[str, str]:
    import tomllib

    out = {}
    for n in names():
        meta = tomllib.loads((_DIR / f"{n}.toml").read_text(encoding="utf-8")).get("meter", {})
        for alias in meta.get("aliases", ()):
            out[alias] = n
    return out


def load(name_or_path: str | Path) -> Profile:
    """A bundled profile by name (or alias, e.g. "em330" → em340) or a user's profile file by path."""
    s = str(name_or_path)
    if isinstance(name_or_path, Path) or s.endswith(".toml") or "/" in s:
        return load_file(s)
    if s in names():
        return _bundled(s)
    if s in _aliases():
        return _bundled(_aliases()[s])
    raise ProfileError(
        f"unknown profile {s!r}: bundled profiles are {', '.join(names())}; or give a path to a .toml file"
    )

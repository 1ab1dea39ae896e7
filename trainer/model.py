"""The generated module a run uses: imported only once its own hash checks out, and refused
when the spec or the derivation changed since `make derive` wrote it.

Every other trainer module takes the module this returns as an explicit argument.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from derive import stamps
from trainer.errors import BadInput

GENERATED_DIR = Path(__file__).resolve().parent.parent / "generated"


def load_generated(name: str) -> ModuleType:
    """generated/<name>.py, imported only once its own hash shows it is what `make derive`
    wrote: a hand-edited module is refused before any of its code runs."""
    path = GENERATED_DIR / f"{name}.py"
    if not (name.isidentifier() and name.isascii()) or not path.is_file():
        specs = GENERATED_DIR.parent / "specs"
        if (specs / f"{name}.toml").is_file():
            raise BadInput(f"--spec {name}: no generated/{name}.py; run "
                           f"`make derive SPEC=specs/{name}.toml` first")
        known = sorted(p.stem for p in specs.glob("*.toml"))
        raise BadInput(f"--spec {name}: no such network (no specs/{name}.toml); the specs are: "
                       f"{', '.join(known) or 'none'}")
    try:
        return stamps.import_checked(path, f"generated.{name}")
    except ValueError as error:
        raise BadInput(f"{error}; run `make derive SPEC=specs/{name}.toml` to regenerate "
                       "it") from None


def spec_name(spec: str) -> str:
    """The network a --spec names: a name, or the stem of a specs/<name>.toml path."""
    return Path(spec).stem if spec.endswith(".toml") else spec


def for_spec(spec: str) -> ModuleType:
    """The generated module of a spec given as a name or a specs/<name>.toml path."""
    name = spec_name(spec)
    if not name.isidentifier():
        raise BadInput(f"--spec {spec}: not a spec name or a .toml file")
    if spec.endswith(".toml") and Path(spec).is_file() \
            and not (GENERATED_DIR / f"{name}.py").is_file():
        raise BadInput(f"--spec {spec}: no generated/{name}.py; run `make derive SPEC={spec}` "
                       "first")
    return load_generated(name)


def check_fresh(model: ModuleType) -> None:
    """Refuse a stale generated module, with what to do about it (a hand-edited one never
    got this far: load_generated checks its own hash before importing it)."""
    path = Path(model.__file__)
    derive_dir = path.resolve().parent.parent / "derive"
    if not (derive_dir / "templates").is_dir():
        return  # a generated module on its own, without the sources to compare against
    spec_file = derive_dir.parent / model.SPEC_FILE
    if not spec_file.is_file():
        raise BadInput(f"{path} was derived from {model.SPEC_FILE}, which is gone; restore it "
                       "or derive the module again from its spec")
    current = stamps.inputs_hash(spec_file, derive_dir)
    reason = stamps.stale_reason(path.parent, model.SPEC_NAME, path.name, current)
    if reason is not None:
        raise BadInput(f"{path} is stale: {reason}; run `make derive SPEC={model.SPEC_FILE}`")

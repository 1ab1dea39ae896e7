"""Writing generated files: atomically, and stamped with a hash of what produced them."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from derive import stamps
from derive.spec import HELD_OUT_DATASETS, NetworkSpec
from derive.stamps import inputs_hash

PACKAGE_DIR = Path(__file__).resolve().parent


def spec_file(spec: NetworkSpec) -> Path:
    path = Path(spec.source)
    return path if path.is_absolute() else PACKAGE_DIR.parent / path


def source_files() -> list[Path]:
    """The derivation's own code and templates: a change to any of them makes outputs stale."""
    files = [*PACKAGE_DIR.glob("*.py"), *PACKAGE_DIR.glob("templates/*.j2")]
    return sorted(files, key=lambda p: p.relative_to(PACKAGE_DIR).as_posix())


def input_hash(spec: NetworkSpec) -> str:
    """sha256 over the spec file, the derivation's sources and the versions that print the
    output (the recipe, shared with train.py, is derive/stamps.py's)."""
    digest = inputs_hash(spec_file(spec), PACKAGE_DIR)
    if digest is None:
        raise OSError(f"{spec_file(spec)}: cannot read the spec file to hash it")
    return digest


def write_atomic(path: Path, text: str) -> bool:
    """Write `text` atomically (derive/stamps.py); returns whether the file changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return stamps.write_atomic(path, text.encode("utf-8"))


def _one_line(text: object) -> str:
    """Printable characters only: no newline can end a comment and start code."""
    return "".join(c for c in str(text) if c.isprintable())


# Text from data (a spec's description, a file path) escaped for the file it lands in, so
# that it stays text there: a Python string literal or docstring, a C comment, LaTeX, Markdown.
ESCAPES = {
    "py_str": lambda text: json.dumps(_one_line(text)),
    "py_doc": lambda text: _one_line(text).replace("\\", "\\\\").replace('"', '\\"'),
    "c_comment": lambda text: _one_line(text).replace("*/", "* /").replace("/*", "/ *")
    .replace("\\", "/").replace("??", "? ?"),
    "tex_text": lambda text: "".join(
        {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
         "#": r"\#", "^": r"\^{}", "_": r"\_", "~": r"\~{}", "%": r"\%"}.get(c, c)
        for c in _one_line(text)),
    "md_text": lambda text: "".join(
        {"<": "&lt;", ">": "&gt;", "&": "&amp;", "\\": "\\\\", "$": "\\$", "*": "\\*",
         "_": "\\_", "`": "\\`", "[": "\\[", "]": "\\]"}.get(c, c)
        for c in _one_line(text)),
    "html_comment": lambda text: _one_line(text).replace("--", "- -").replace(">", "&gt;"),
    "tex_comment": _one_line,
}


LINE_WIDTH = 100  # ruff's, for generated Python as for hand-written


def _top_level_breaks(value: str) -> list[int]:
    """Positions of ` + `, ` - ` and ` * ` outside any bracket: where a line may break."""
    depth, breaks = 0, []
    for k, char in enumerate(value):
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and value[k:k + 3] in (" + ", " - ", " * "):
            breaks.append(k)
    return breaks


def _wrapped(value: str) -> tuple[str, str] | None:
    """("* ", inner) for a piece `* (inner)` whose parentheses hold all of it, else None."""
    prefix = value[:2] if value[:2] in ("+ ", "- ", "* ") else ""
    body = value[len(prefix):]
    if not (body.startswith("(") and body.endswith(")")):
        return None
    depth = 0
    for k, char in enumerate(body):
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and k < len(body) - 1:
            return None
    return prefix, body[1:-1]


def _fold(value: str, indent: int) -> list[str]:
    """`value` as lines of at most the line width where it can be broken: before top-level
    operators, and inside a parenthesised piece that is still too long."""
    pad = " " * indent
    if indent + len(value) <= LINE_WIDTH:
        return [pad + value]
    pieces, start = [], 0
    for k in _top_level_breaks(value):
        pieces.append(value[start:k])
        start = k + 1
    pieces.append(value[start:])
    if len(pieces) == 1:
        wrapped = _wrapped(value)
        if wrapped is None:
            return [pad + value]  # nothing to break at: left long
        prefix, inner = wrapped
        return [f"{pad}{prefix}(", *_fold(inner, indent + 4), f"{pad})"]
    rows = [pieces[0]]
    for piece in pieces[1:]:
        if indent + len(rows[-1]) + 1 + len(piece) <= LINE_WIDTH:
            rows[-1] += " " + piece
        else:
            rows.append(piece)
    return [line for row in rows for line in _fold(row, indent)]


def assign(line: object, indent: int, op: str = "=") -> str:
    """`target op value` for a Python template line at `indent`; a value that would pass
    the line width is put in parentheses and broken (see `_fold`)."""
    target, value = line.target, line.value
    if indent + len(target) + len(op) + len(value) + 2 <= LINE_WIDTH:
        return f"{target} {op} {value}"
    body = "\n".join(_fold(value, indent + 4))
    return f"{target} {op} (\n{body}\n{' ' * indent})"


def align_at_relation(body: str) -> str:
    """A LaTeX formula as a line of align*: the alignment point before its relation (= or
    \\leftarrow); a line without one (a shapes line) starts at the alignment point, under
    the right-hand sides, so it does not widen the left column."""
    for relation in (" = ", r" \leftarrow "):
        if relation in body:
            return body.replace(relation, " &" + relation.lstrip(), 1)
    return r"&\quad " + body


def template_environment() -> jinja2.Environment:
    """Jinja settings shared by every template: strict, exact about whitespace, with the
    escapes of ESCAPES as filters."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(ESCAPES)
    environment.filters["assign"] = assign
    environment.globals["held_out"] = HELD_OUT_DATASETS
    return environment

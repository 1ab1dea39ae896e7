"""Read LaTeX math the way students type it, for `python -m derive grade`.

Two jobs: find the relations ("a = b = c" rows) in a notebook's Markdown, a Markdown file or a
TeX file, and parse one side of a relation into a small syntax tree. Nothing here gives the
tree a meaning (derive/grade.py does) and no input text is ever evaluated: the tree is built
token by token. SymPy's own `parse_latex` rejects too much of the notation in the wild
(\\hat{y}, thin spaces, ^\\top, a sum followed by a product), hence this small parser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fractions import Fraction

MAX_SIDE_TOKENS = 3000  # one side of one relation; longer is refused as unreadable
MAX_DEPTH = 60  # nesting of groups, fractions and sums


class LatexError(ValueError):
    """A formula this parser cannot read; the message says what stopped it."""


class NotADocument(ValueError):
    """A file that is not a notebook (or not text): bad input, one line, exit 2."""


# ----------------------------------------------------------------------------- documents

@dataclass(frozen=True)
class Row:
    """One row of displayed or inline math: a relation chain, or anything else."""

    text: str
    where: str  # "cell 4" or "line 12": enough for a student to find it


MATH_ENVS = ("equation", "equation*", "align", "align*", "aligned", "gather", "gather*",
             "gathered", "multline", "multline*", "eqnarray", "eqnarray*", "split",
             "displaymath", "math", "flalign", "flalign*", "alignat", "alignat*", "alignedat")
MATRIX_ENVS = ("matrix", "bmatrix", "pmatrix", "Bmatrix", "smallmatrix", "array", "cases",
               "vmatrix", "Vmatrix")
_BEGIN = re.compile(r"\\begin\{([A-Za-z]+\*?)\}")


def notebook_markdown(text: str) -> list[tuple[str, str]]:
    """[(where, markdown)] of a notebook's Markdown cells; NotADocument if it is no notebook."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise NotADocument("not a notebook (not valid JSON)") from None
    if not isinstance(data, dict):
        raise NotADocument("not a notebook (no cells)")
    cells = data.get("cells")
    if cells is None and isinstance(data.get("worksheets"), list):  # nbformat 3
        cells = [c for ws in data["worksheets"] if isinstance(ws, dict)
                 for c in (ws.get("cells") or [])]
    if not isinstance(cells, list):
        raise NotADocument("not a notebook (no cells)")
    out = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if isinstance(source, str):
            out.append((f"cell {number}", source))
    return out


def _blank(match: re.Match) -> str:
    """The same text with everything but newlines blanked: line numbers stay right."""
    return re.sub(r"[^\n]", " ", match.group(0))


def strip_markdown_code(text: str) -> str:
    """Fenced and inline code and HTML comments are not math, whatever dollars they hold."""
    text = re.sub(r"(?ms)^[ \t]*(```|~~~).*?(^[ \t]*\1[^\n]*$|\Z)", _blank, text)
    text = re.sub(r"(?s)<!--.*?(-->|\Z)", _blank, text)  # a commented-out attempt
    return re.sub(r"(`+)[^\n]*?\1", _blank, text)


def strip_tex_comments(text: str) -> str:
    return re.sub(r"(?<!\\)%[^\n]*", "", text)


def math_chunks(text: str) -> list[tuple[int, str]]:
    """(offset, body) of every piece of math: $$..$$, \\[..\\], environments, \\(..\\), $..$."""
    chunks = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                i += 2
                continue
            if nxt in "[(":
                close = "\\]" if nxt == "[" else "\\)"
                end = text.find(close, i + 2)
                end = n if end < 0 else end
                chunks.append((i + 2, text[i + 2:end]))
                i = end + 2
                continue
            begin = _BEGIN.match(text, i)
            if begin and begin.group(1) in MATH_ENVS:
                close = f"\\end{{{begin.group(1)}}}"
                end = text.find(close, begin.end())
                end = n if end < 0 else end
                chunks.append((begin.end(), text[begin.end():end]))
                i = end + len(close)
                continue
            i += 2
            continue
        if c == "$":
            if text.startswith("$$", i):
                end = text.find("$$", i + 2)
                end = n if end < 0 else end
                chunks.append((i + 2, text[i + 2:end]))
                i = end + 2
                continue
            end = i + 1
            while end < n and not (text[end] == "$" and text[end - 1] != "\\"):
                end += 1
            body = text[i + 1:end]
            if end < n and "\n\n" not in body:
                chunks.append((i + 1, body))
                i = end + 1
            else:
                i += 1
            continue
        i += 1
    return chunks


_ROW_SPLIT = re.compile(r"\\\\(\[[^\]]*\])?|\\begin\{[A-Za-z]+\*?\}(\{[^}]*\})?"
                        r"|\\end\{[A-Za-z]+\*?\}|\\(?:text|mbox)\{[^{}]*\}|\\[A-Za-z]+|\\."
                        r"|[{}()\[\]&,;]")
_TEXT_WORD = re.compile(r"\\(?:text|mbox)\{\s*([A-Za-z ]*?)\s*[,.;:]?\s*\}")
_SOFT = "\x00"


def split_rows(body: str) -> list[str]:
    """The relation rows of one chunk of math (see `split_rows_at`)."""
    return [text for _, text in split_rows_at(body)]


def split_rows_at(body: str) -> list[tuple[int, str]]:
    """(offset, row) of the relation rows of one chunk of math.

    Rows end at \\\\ and at alignment environments; a row also splits at \\quad, \\qquad,
    a `\\text{and}`-like word or a top-level comma or semicolon when each part is a
    relation of its own. Matrices keep their \\\\ and &.
    """
    rows: list[tuple[int, str]] = []
    current: list[str] = []
    depth, matrix_depth, pos, start = 0, 0, 0, 0
    for match in _ROW_SPLIT.finditer(body):
        token = match.group(0)
        current.append(body[pos:match.start()])
        pos = match.end()
        if token.startswith(("\\begin", "\\end")):
            name = re.search(r"\{([A-Za-z]+)\*?\}", token).group(1)
            if name in MATRIX_ENVS:
                matrix_depth += 1 if token.startswith("\\begin") else -1
                current.append(token)
            elif depth == 0 and matrix_depth <= 0:
                rows.append((start, "".join(current)))
                current, start = [], pos
            else:
                current.append(token)
            continue
        if token in ("{", "(", "[", "\\{"):
            depth += 1
        elif token in ("}", ")", "]", "\\}"):
            depth = max(depth - 1, 0)
        if depth or matrix_depth > 0:
            current.append(token)
        elif token.startswith("\\\\"):
            rows.append((start, "".join(current)))
            current, start = [], pos
        elif token == "&":
            current.append(" ")
        elif token in ("\\quad", "\\qquad", ",", ";") or _TEXT_WORD.fullmatch(token):
            current.append(_SOFT + token + _SOFT)  # kept only between two relations
        else:
            current.append(token)
    current.append(body[pos:])
    rows.append((start, "".join(current)))
    out = []
    for offset, row in rows:
        offset += len(row) - len(row.lstrip())
        for part in _soft_split(row):
            part = _TRAILING.sub("", part.strip()).strip()
            if part:
                out.append((offset, part))
    return out


_TRAILING = re.compile(r"(?<!\\)[,;.]+$")  # "a = b," but not a thin space "\,"
_RELATION = re.compile(r"=|\\coloneqq|\\triangleq|\\approx|\\leftarrow|\\gets")


def _soft_split(row: str) -> list[str]:
    """Split at the soft marks only where the parts on both sides hold a relation."""
    pieces = row.split(_SOFT)
    parts, seps = pieces[0::2], pieces[1::2]
    merged = [parts[0]]
    for sep, part in zip(seps, parts[1:]):
        if _RELATION.search(merged[-1]) and _RELATION.search(part):
            merged.append(part)
        else:
            merged[-1] += sep + part
    return merged


def rows_of_text(text: str, kind: str, where: str = "") -> list[Row]:
    """Every math row of a Markdown or TeX text, with where it was found."""
    text = strip_tex_comments(text) if kind == "tex" else strip_markdown_code(text)
    rows: list[Row] = []
    for offset, body in math_chunks(text):
        first = len(rows)
        for start, row in split_rows_at(body):
            line = text.count("\n", 0, offset + start) + 1
            place = f"{where}, line {line}" if where else f"line {line}"
            if len(rows) > first and re.match(r"^\s*(=|\\approx)", row):
                rows[-1] = Row(rows[-1].text + " " + row, rows[-1].where)  # align's "&= ..."
            else:
                rows.append(Row(row, place))
    return rows


# ----------------------------------------------------------------------------- tokens

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[A-Za-z]|\d+(?:\.\d+)?|\.\d+|\s+|.", re.S)
_DROP = {r"\left", r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\big", r"\Big",
         r"\bigg", r"\Bigg", r"\biggl", r"\biggr", r"\Biggl", r"\Biggr", r"\middle",
         r"\displaystyle", r"\textstyle", r"\scriptstyle", r"\limits", r"\nolimits", r"\,",
         r"\;", r"\:", r"\!", "\\ ", r"\quad", r"\qquad", "~", r"\nonumber", r"\notag",
         r"\enspace", r"\thinspace", r"\mathstrut", r"\strut", r"\medspace", r"\thickspace",
         r"\negthinspace", r"\allowbreak"}
_DROP_WITH_ARG = {r"\label", r"\tag", r"\hspace", r"\vspace", r"\phantom", r"\hphantom",
                  r"\vphantom", r"\tag*", r"\color", r"\textcolor"}
_WORDS = {r"\mathrm", r"\text", r"\operatorname", r"\textrm", r"\mathit", r"\textit",
          r"\mathsf", r"\textsf", r"\mbox", r"\mathtt", r"\texttt", r"\textnormal"}
_PLAIN_WORDS = re.compile(r"(?<![\\A-Za-z])(sigmoid|relu|ReLU|softplus)(?![A-Za-z])")
_PROSE = {r"\text", r"\mbox", r"\textrm", r"\textit", r"\textnormal", r"\textsf", r"\texttt",
          r"\textbf"}
_MATH_WORDS = {"sigmoid", "relu", "ReLU", "softplus", "tanh", "exp", "log", "ln", "sig"}
WORD = "#"  # prefix of a word token (\mathrm{sigmoid} -> "#sigmoid"); never a LaTeX token


def tokenize(text: str) -> list[str]:
    """LaTeX tokens with spacing, sizing and labels removed and words joined."""
    text = _PLAIN_WORDS.sub(lambda m: rf"\operatorname{{{m.group(1)}}}", text)
    raw = [t for t in _TOKEN.findall(text) if not t.isspace()]
    out: list[str] = []
    i = 0
    while i < len(raw):
        t = raw[i]
        if t in (r"\left", r"\right") and i + 1 < len(raw) and raw[i + 1] == ".":
            i += 2
            continue
        if t in _DROP:
            i += 1
            continue
        if t in _DROP_WITH_ARG:
            i = _skip_group(raw, i + 1)  # \textcolor{red}{x}: the coloured text stays
            continue
        if t in _PROSE and _is_prose(raw, i):
            i = _skip_group(raw, i + 1)  # "\\text{ for one sample}": a comment, not math
            continue
        if t in _WORDS:
            j = i + 1
            if j < len(raw) and raw[j] == "*":
                j += 1
            end = _skip_group(raw, j)
            inner = raw[j + 1:end - 1] if j < len(raw) and raw[j] == "{" else raw[j:end]
            word = "".join(inner).strip()
            if len(inner) == 1:
                out.append(inner[0])
            elif re.fullmatch(r"[A-Za-z]+", word):
                out.append(WORD + word)
            elif re.fullmatch(r"[A-Za-z ]*[,.;:]?", word):
                out.append(WORD + (word.strip(" ,.;:") or ","))
            else:  # \operatorname{\sigma} and the like: keep the inside
                out.extend(inner)
            i = end
            continue
        out.append(t)
        i += 1
    return out


def _is_prose(tokens: list[str], i: int) -> bool:
    """\\text{...} holding words of a sentence, not a name such as BCE, d or sigmoid."""
    end = _skip_group(tokens, i + 1)
    inner = tokens[i + 2:end - 1] if i + 1 < len(tokens) and tokens[i + 1] == "{" else []
    word = "".join(inner)
    if word and not any(c.isalnum() for c in word):
        return True  # \\text{.}, \\text{,}
    if not inner or len(inner) == 1 or word in _MATH_WORDS:
        return False
    return not (word.isalpha() and word.isupper())


def _skip_group(tokens: list[str], i: int) -> int:
    """Index after the {group} (or single token) starting at i."""
    if i >= len(tokens):
        return i
    if tokens[i] != "{":
        return i + 1
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j] == "{":
            depth += 1
        elif tokens[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(tokens)


RELATIONS = {"=": "=", r"\coloneqq": "=", r"\triangleq": "=", r"\equiv": "=", r"\approx": "~",
             r"\leftarrow": "<-", r"\gets": "<-", r"\to": "->", r"\rightarrow": "->",
             r"\neq": "!", r"\ne": "!", "<": "<", ">": ">", r"\le": "<", r"\leq": "<",
             r"\ge": ">", r"\geq": ">", r"\propto": "~", r"\Rightarrow": "->",
             r"\implies": "->", r"\iff": "->", r"\simeq": "~", r"\sim": "~", r"\in": "in",
             r"\mapsto": "->", r"\Leftarrow": "<-", r"\doteq": "="}


def split_relation(tokens: list[str]) -> list[tuple[str, list[str]]]:
    """[(relation before, side tokens)]: `a = b \\approx c` -> [("", a), ("=", b), ("~", c)]."""
    sides: list[tuple[str, list[str]]] = []
    current: list[str] = []
    relation = ""
    depth = 0
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t in "{([":
            depth += 1
        elif t in "})]":
            depth -= 1
        if depth == 0:
            found = None
            if t == ":" and i + 1 < len(tokens) and tokens[i + 1] == "=":
                found, skip = "=", 2
            elif t in (r"\stackrel", r"\overset"):  # \overset{(a)}{=}
                end = _skip_group(tokens, i + 1)
                end2 = _skip_group(tokens, end)
                inner = [x for x in tokens[end:end2] if x not in "{}"]
                if len(inner) == 1 and inner[0] in RELATIONS:
                    found, skip = RELATIONS[inner[0]], end2 - i
            elif t in RELATIONS:
                found, skip = RELATIONS[t], 1
            if found is not None:
                sides.append((relation, current))
                current, relation = [], found
                i += skip
                continue
        current.append(t)
        i += 1
    sides.append((relation, current))
    return sides


# ----------------------------------------------------------------------------- syntax tree

@dataclass(frozen=True)
class Num:
    value: Fraction


@dataclass(frozen=True)
class Index:
    """One index of a subscript: a letter (i, n), a number, or text (BCE, \\text{...})."""

    kind: str  # "letter", "number", "other"
    value: str | int


@dataclass(frozen=True)
class Sym:
    """A name with its decorations: \\hat{y}_n, W^{(1)}_{ij}, \\vec{x}^{(n)}, \\delta^{[2]}.

    `tags` are the parenthesised superscripts, ("layer", 1) or ("letter", "n");
    `bare_sup` a superscript that is only digits (W^1: a layer or a power, said later).
    """

    base: str  # a letter, or a command without backslash: "delta", "ell", "partial"
    decos: frozenset[str] = frozenset()
    sub: tuple[Index, ...] = ()
    tags: tuple[tuple[str, int | str], ...] = ()
    bare_sup: int | None = None
    primes: int = 0
    has_sub: bool = False


@dataclass(frozen=True)
class Add:
    terms: tuple[tuple[int, object], ...]  # (+1 or -1, node)


@dataclass(frozen=True)
class Mul:
    op: str  # "juxt", "cdot", "times", "odot", "star", "div"
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    arg: object


@dataclass(frozen=True)
class Pow:
    base: object
    exp: object


@dataclass(frozen=True)
class Transpose:
    arg: object


@dataclass(frozen=True)
class Apply:
    """A function applied to an argument: \\sigma(z), \\sigma'(z), \\log, \\exp, \\tanh."""

    func: str
    arg: object
    primes: int = 0


@dataclass(frozen=True)
class Sum:
    letter: str | None
    lower: object | None
    upper: object | None
    body: object


@dataclass(frozen=True)
class Matrix:
    rows: tuple[tuple[object, ...], ...]


@dataclass(frozen=True)
class Indicator:
    """\\mathbf{1}[u > 0]: 1 where the condition holds, else 0 (the ReLU's derivative)."""

    arg: object
    op: str  # ">" or "<"


@dataclass(frozen=True)
class Ones:
    """\\mathbf{1}: the all-ones vector, a 1 that broadcasts."""


@dataclass(frozen=True)
class Word:
    text: str


@dataclass(frozen=True)
class Subscripted:
    """(expr)_{ij}: an entry of a bracketed expression."""

    arg: object
    sub: tuple[Index, ...]


FUNCTIONS = {r"\sigma": "sigma", r"\tanh": "tanh", r"\exp": "exp", r"\log": "log",
             r"\ln": "log", "#sigmoid": "sigma", "#relu": "relu", "#ReLU": "relu",
             "#softplus": "softplus", "#sig": "sigma", "#tanh": "tanh", "#exp": "exp",
             "#log": "log", "#ln": "log", r"\max": "max"}
DECORATIONS = {r"\hat": "hat", r"\widehat": "hat", r"\vec": "vec", r"\mathbf": "bold",
               r"\boldsymbol": "bold", r"\bm": "bold", r"\pmb": "bold", r"\mathcal": "cal",
               r"\mathbb": "bb", r"\bar": "bar", r"\overline": "bar", r"\tilde": "tilde",
               r"\widetilde": "tilde", r"\dot": "dot", r"\underline": "bar",
               r"\overrightarrow": "vec", r"\mathscr": "cal", r"\mathfrak": "cal",
               r"\check": "check", r"\breve": "check", r"\ddot": "dot"}
GREEK = {r"\alpha", r"\beta", r"\gamma", r"\delta", r"\epsilon", r"\varepsilon", r"\zeta",
         r"\eta", r"\theta", r"\vartheta", r"\iota", r"\kappa", r"\lambda", r"\mu", r"\nu",
         r"\xi", r"\pi", r"\rho", r"\tau", r"\upsilon", r"\phi", r"\varphi", r"\chi", r"\psi",
         r"\omega", r"\Delta", r"\Gamma", r"\Theta", r"\Lambda", r"\Xi", r"\Pi", r"\Sigma",
         r"\Phi", r"\Psi", r"\Omega", r"\ell", r"\partial", r"\nabla", r"\imath", r"\jmath"}
PRODUCT_OPS = {r"\cdot": "cdot", r"\times": "times", r"\odot": "odot", r"\circ": "odot",
               "*": "star", r"\ast": "star", "/": "div", r"\div": "div", r"\bullet": "cdot",
               r"\otimes": "otimes", r"\oplus": "oplus", r"\star": "star"}
TRANSPOSE_MARKS = {"T", r"\top", r"\intercal", "t"}
FRACS = {r"\frac", r"\dfrac", r"\tfrac", r"\cfrac"}
_STOP = {"+", "-", "=", ")", "]", "}", ",", ";", "&", r"\pm", r"\mp", ":", "|", r"\\", ">", "<",
         r"\geq", r"\ge", r"\leq", r"\le"}


def _is_letter(t: str) -> bool:
    return len(t) == 1 and t.isalpha() and t.isascii()


class Parser:
    """Recursive descent over tokens. Product binds tighter than sum; a \\sum takes the rest
    of its product as its body (\\frac{1}{N}\\sum_n a_n b_n: the sum of a_n b_n)."""

    def __init__(self, tokens: list[str]) -> None:
        if len(tokens) > MAX_SIDE_TOKENS:
            raise LatexError(f"too long ({len(tokens)} tokens)")
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    # helpers
    def peek(self, k: int = 0) -> str | None:
        j = self.pos + k
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self) -> str:
        t = self.peek()
        if t is None:
            raise LatexError("the formula ends too early")
        self.pos += 1
        return t

    def expect(self, t: str) -> None:
        got = self.peek()
        if got != t:
            raise LatexError(f"expected {t!r}, found {got or 'the end'!r}")
        self.pos += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LatexError("nested too deeply")

    def group_tokens(self) -> list[str]:
        """The tokens of the next {group}, or of the next single token."""
        t = self.take()
        if t != "{":
            if len(t) > 1 and t[0].isdigit() and t.isdigit():  # \frac12, x_12: one digit
                self.tokens.insert(self.pos, t[1:])
                return [t[0]]
            return [t]
        depth, start = 1, self.pos
        while depth:
            t = self.take()
            depth += {"{": 1, "}": -1}.get(t, 0)
        return self.tokens[start:self.pos - 1]

    # grammar
    def parse(self) -> object:
        if not self.tokens:
            raise LatexError("nothing to read")
        node = self.expr()
        if self.peek() is not None:
            raise LatexError(f"unexpected {self.peek()!r}")
        return node

    def expr(self) -> object:
        self.enter()
        terms: list[tuple[int, object]] = []
        sign = 1
        if self.peek() in ("+", "-"):
            sign = -1 if self.take() == "-" else 1
        terms.append((sign, self.term()))
        while self.peek() in ("+", "-", r"\pm", r"\mp"):
            t = self.take()
            if t in (r"\pm", r"\mp"):
                raise LatexError(f"{t} is not one formula")
            terms.append((-1 if t == "-" else 1, self.term()))
        self.depth -= 1
        if len(terms) == 1 and terms[0][0] == 1:
            return terms[0][1]
        return Add(tuple(terms))

    def term(self) -> object:
        node = self.factor()
        while True:
            t = self.peek()
            if t is None or t in _STOP:
                return node
            if t in PRODUCT_OPS:
                op = PRODUCT_OPS[self.take()]
                if op == "oplus":
                    raise LatexError(f"{t} is not read (write the product out)")
                if self.peek() in ("-", "+"):
                    negative = self.take() == "-"
                    right = self.factor()
                    right = Neg(right) if negative else right
                else:
                    right = self.factor()
                node = Mul(op, node, right)
                continue
            if t == r"\sum":
                return Mul("juxt", node, self.factor())
            node = Mul("juxt", node, self.factor())

    def factor(self) -> object:
        t = self.peek()
        if t == r"\sum":
            return self.sum()
        if t == "-":
            self.take()
            return Neg(self.factor())
        return self.postfix(self.atom())

    def sum(self) -> object:
        self.take()
        letter, lower, upper = None, None, None
        for _ in range(2):
            if self.peek() == "_":
                self.take()
                inner = self.group_tokens()
                eq = inner.index("=") if "=" in inner else -1
                name = inner[:eq] if eq >= 0 else inner
                if len(name) != 1 or not _is_letter(name[0]):
                    raise LatexError("a \\sum needs one index letter, as \\sum_{n=1}^{N}")
                letter = name[0]
                if eq >= 0:
                    lower = Parser(inner[eq + 1:]).parse()
            elif self.peek() == "^":
                self.take()
                upper = Parser(self.group_tokens()).parse()
        self.enter()
        body = self.term()
        self.depth -= 1
        return Sum(letter, lower, upper, body)

    def atom(self) -> object:
        self.enter()
        try:
            return self._atom()
        finally:
            self.depth -= 1

    def _atom(self) -> object:
        t = self.take()
        if t[0].isdigit() or (t[0] == "." and len(t) > 1):
            if len(t) > 30:
                raise LatexError("a number too long")
            return Num(Fraction(t))
        if t in ("(", "["):
            inner = self.expr()
            self.expect(")" if t == "(" else "]")
            return Group(inner)
        if t == "{":
            if self.peek() == "}":
                raise LatexError("an empty group {}")
            inner = self.expr()
            self.expect("}")
            return inner
        if t in FRACS:
            num = Parser(self.group_tokens()).parse()
            den = Parser(self.group_tokens()).parse()
            return Mul("div", num, den)
        if t == r"\begin":
            return self.matrix()
        if t in FUNCTIONS:
            return self.function(FUNCTIONS[t], t)
        if t in (r"\mathbf", r"\mathbb", r"\boldsymbol", r"\vec", r"\bm") and \
                self.peek() in ("1", "{") and self._is_one():
            if self.peek() == "[":  # \mathbf{1}[z > 0]: an indicator
                return self.indicator()
            return Ones()
        if t in DECORATIONS:
            inner_tokens = self.group_tokens()
            inner = Parser(inner_tokens)
            node = inner.postfix(inner.atom())
            if inner.peek() is not None or not isinstance(node, Sym):
                raise LatexError(f"{t}{{...}} around more than one name")
            return _with(node, decos=node.decos | {DECORATIONS[t]})
        if t == "d" and self.peek() is not None and len(self.peek()) == 1 and \
                self.peek().isupper():  # Ng's dZ^{[1]}, dA: one name
            return Sym("d" + self.take())
        if _is_letter(t):
            return Sym(t)
        if t in GREEK:
            return Sym(t[1:])
        if t.startswith(WORD):
            return Word(t[1:])
        if t == r"\mathbb" or t == r"\mathbf":
            raise LatexError(f"{t} with an unreadable argument")
        if t in _STOP or t in PRODUCT_OPS:
            raise LatexError(f"unexpected {t!r}")
        raise LatexError(f"unknown notation {t}")

    def indicator(self) -> object:
        self.expect("[")
        arg = self.expr()
        relation = self.take()
        op = {">": ">", r"\geq": ">", r"\ge": ">", "<": "<", r"\leq": "<", r"\le": "<"}.get(
            relation)
        if op is None or self.take() != "0":
            raise LatexError("an indicator other than [u > 0] or [u < 0]")
        self.expect("]")
        return Indicator(arg, op)

    def _is_one(self) -> bool:
        if self.peek() == "1":
            self.take()
            return True
        if self.peek() == "{" and self.peek(1) == "1" and self.peek(2) == "}":
            self.pos += 3
            return True
        return False

    def function(self, name: str, token: str) -> object:
        primes, power = 0, None
        while self.peek() in ("'", "^"):
            if self.take() == "'":
                primes += 1
                continue
            sup = self.group_tokens()
            if sup in (["'"], [r"\prime"], ["'", "'"], [r"\prime", r"\prime"]):
                primes += len(sup)
            elif name == "sigma" and sup == ["-", "1"]:
                raise LatexError("the inverse sigmoid is not read")
            else:
                power = Parser(sup).parse()
        if self.peek() == "_":  # \log_2 and the like
            raise LatexError(f"{token} with a subscript")
        if self.peek() in ("(", "["):
            close = ")" if self.take() == "(" else "]"
            arg = self.expr()
            if name == "max" and self.peek() == ",":
                self.take()
                arg = (arg, self.expr())
            self.expect(close)
        elif self.peek() == "{":
            arg = Parser(self.group_tokens()).parse()
        elif self.peek() is None or self.peek() in _STOP or self.peek() in PRODUCT_OPS:
            if name == "sigma" and not primes and power is None:
                return Sym("sigma")
            raise LatexError(f"{token} without an argument")
        else:
            arg = self.postfix(self.atom())
        node: object = Apply(name, arg, primes)
        if power is not None:
            node = Pow(node, power)
        return node

    def matrix(self) -> object:
        name = "".join(self.group_tokens())
        if name not in ("bmatrix", "pmatrix", "matrix", "Bmatrix", "smallmatrix"):
            raise LatexError(f"\\begin{{{name}}} is not read")
        start, depth = self.pos, 0
        while True:
            t = self.take()
            if t == r"\begin":
                depth += 1
            elif t == r"\end":
                if depth == 0:
                    break
                depth -= 1
        body = self.tokens[start:self.pos - 1]
        self.group_tokens()
        rows, row, cell = [], [], []
        level = 0
        for t in [*body, r"\\"]:
            level += {"{": 1, "}": -1, r"\begin": 1, r"\end": -1}.get(t, 0)
            if level == 0 and t in ("&", r"\\"):
                row.append(Parser(cell).parse())
                cell = []
                if t == r"\\":
                    rows.append(tuple(row))
                    row = []
            else:
                cell.append(t)
        if rows and len(rows[-1]) == 1 and rows[-1][0] is None:
            rows.pop()
        if len({len(r) for r in rows}) != 1:
            raise LatexError("a matrix with rows of different lengths")
        return Matrix(tuple(rows))

    def postfix(self, node: object) -> object:
        while True:
            t = self.peek()
            if t == "_":
                self.take()
                sub = self.group_tokens()
                node = self._subscript(node, sub)
            elif t == "^":
                self.take()
                node = self._superscript(node, self.group_tokens())
            elif t == "'":
                self.take()
                if not isinstance(node, Sym):
                    raise LatexError("a prime on an expression")
                node = _with(node, primes=node.primes + 1)
            else:
                return node

    def _subscript(self, node: object, tokens: list[str]) -> object:
        items = parse_indices(tokens)
        if isinstance(node, Sym):
            if node.has_sub:
                raise LatexError("two subscripts")
            return _with(node, sub=items, has_sub=True)
        if isinstance(node, Transpose | Pow):
            raise LatexError("a subscript after a superscript on an expression")
        return Subscripted(node, items)

    def _superscript(self, node: object, tokens: list[str]) -> object:
        tags, transpose, primes, rest = parse_superscript(tokens)
        if isinstance(node, Sym):
            bare = None
            if rest and len(rest) == 1 and rest[0].isdigit() and not node.tags and \
                    node.bare_sup is None and len(rest[0]) <= 2:
                bare, rest = int(rest[0]), []
            node = _with(node, tags=node.tags + tags, bare_sup=bare,
                         primes=node.primes + primes)
        elif tags or primes:
            raise LatexError("a layer or sample tag on an expression")
        if rest:
            node = Pow(node, Parser(rest).parse())
        if transpose:
            node = Transpose(node)
        return node


@dataclass(frozen=True)
class Group:
    """(...) or [...]: kept so that (x)^T and (a)_{ij} know what they apply to."""

    arg: object


def _with(node: Sym, **changes) -> Sym:
    values = {**node.__dict__, **changes}
    return Sym(**values)


def parse_indices(tokens: list[str]) -> tuple[Index, ...]:
    """x_{n,j} -> (n, j); W_{ij} -> (i, j); W_{12} -> (1, 2); L_{BCE} -> (B, C, E)."""
    if "," in tokens:
        pieces, current, depth = [], [], 0
        for t in tokens:
            depth += {"{": 1, "}": -1, "(": 1, ")": -1}.get(t, 0)
            if t == "," and depth == 0:
                pieces.append(current)
                current = []
            else:
                current.append(t)
        pieces.append(current)
        return tuple(_one_index(p) for p in pieces)
    items = []
    for t in tokens:
        if t in "{}":
            continue
        if t.isdigit():
            items.extend(Index("number", int(d)) for d in t)
        elif _is_letter(t):
            items.append(Index("letter", t))
        else:
            items.append(Index("other", t))
    return tuple(items)


def _one_index(tokens: list[str]) -> Index:
    tokens = [t for t in tokens if t not in "{}"]
    if len(tokens) == 1 and tokens[0].isdigit():
        return Index("number", int(tokens[0]))
    if len(tokens) == 1 and _is_letter(tokens[0]):
        return Index("letter", tokens[0])
    return Index("other", "".join(tokens))


def parse_superscript(tokens: list[str]) -> tuple[tuple, bool, int, list[str]]:
    """(tags, transposed, primes, rest): ^{(1)\\top} -> ((layer 1,), True, 0, [])."""
    tags: list[tuple[str, int | str]] = []
    transpose, primes, rest = False, 0, []
    i = 0
    tokens = [t for t in tokens if t not in "{}"] if tokens[:1] == ["{"] else tokens
    while i < len(tokens):
        t = tokens[i]
        if t in ("(", "[") and i + 2 < len(tokens) and tokens[i + 2] in (")", "]"):
            inner = tokens[i + 1]
            if inner.isdigit():
                tags.append(("layer", int(inner)))
                i += 3
                continue
            if _is_letter(inner):
                tags.append(("letter", inner))
                i += 3
                continue
        if t in TRANSPOSE_MARKS and not rest and (t != "t" or len(tokens) == 1):
            transpose = True
            i += 1
            continue
        if t in ("'", r"\prime") and not rest:
            primes += 1
            i += 1
            continue
        rest.append(t)
        i += 1
    if rest and (tags or transpose or primes):  # e^{-z^{(2)}}: an exponent, tags and all
        return (), False, 0, list(tokens)
    return tuple(tags), transpose, primes, rest


def parse_side(tokens: list[str]) -> object:
    """The syntax tree of one side of a relation; LatexError if it cannot be read."""
    try:
        return Parser(list(tokens)).parse()
    except RecursionError:
        raise LatexError("nested too deeply") from None


# ----------------------------------------------------------------------------- left-hand sides

LOSS_NAMES = {"L", "ell", "J", "E", "C", "l"}


@dataclass(frozen=True)
class GradientLhs:
    """dLoss/d(target): the target's name as written, and indices given outside the fraction."""

    loss: Sym
    target: Sym
    outer: tuple[Index, ...] = field(default=())


def sym_of(tokens: list[str]) -> Sym | None:
    """The name these tokens spell (\\delta^{(1)}_n), or None if they are anything else."""
    try:
        node = parse_side(tokens)
    except LatexError:
        return None
    return node if isinstance(node, Sym) else None


def _loss_of(tokens: list[str]) -> Sym | None:
    """L, \\mathcal{L}, \\ell_n, J(\\theta), E, L_{BCE}: the loss; arguments are ignored."""
    if tokens and tokens[-1] == ")" and "(" in tokens:
        tokens = tokens[:tokens.index("(")]
    loss = sym_of(tokens)
    if loss is None or loss.base not in LOSS_NAMES or loss.decos - {"cal", "bold", "scr"}:
        return None
    return loss


def _differential(tokens: list[str]) -> list[str] | None:
    """The tokens after a leading \\partial or d: the thing differentiated or by."""
    if tokens[:1] in ([r"\partial"], ["d"], [r"\delta"]):
        return tokens[1:]
    return None


def parse_gradient_lhs(tokens: list[str]) -> GradientLhs | None:
    """Recognise dL/dtheta in the forms students write, or None.

    \\frac{\\partial L}{\\partial W^{(1)}}, \\frac{dL}{dw^{(2)}}, \\partial L / \\partial b^{(2)},
    \\nabla_{W^{(1)}} L, dW^{[1]} (Ng's notation), (\\frac{\\partial L}{\\partial W})_{ij}.
    """
    tokens = list(tokens)
    outer: tuple[Index, ...] = ()
    if len(tokens) > 3 and tokens[0] in ("(", "[") and "_" in tokens:
        close = ")" if tokens[0] == "(" else "]"
        depth, k = 0, 0
        for k, t in enumerate(tokens):  # noqa: B007  k is the closing bracket, used below
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(t, 0)
            if depth == 0:
                break
        if tokens[k] == close and k + 1 < len(tokens) and tokens[k + 1] == "_":
            sub = Parser(tokens[k + 2:])
            try:
                sub_tokens = sub.group_tokens()
            except LatexError:
                return None
            if sub.pos != len(sub.tokens):
                return None
            outer = parse_indices(sub_tokens)
            tokens = tokens[1:k]
    found = _gradient_core(tokens)
    if found is None:
        return None
    loss, target = found
    return GradientLhs(loss, target, outer)


def _gradient_core(tokens: list[str]) -> tuple[Sym, Sym] | None:
    if not tokens:
        return None
    if tokens[0] in FRACS:
        p = Parser(list(tokens[1:]))
        try:
            num, den = p.group_tokens(), p.group_tokens()
        except LatexError:
            return None
        after = p.tokens[p.pos:]
        num_rest, den_rest = _differential(num), _differential(den)
        if num_rest is None or den_rest is None:
            return None
        loss = _loss_of(num_rest if num_rest else after)
        if num_rest and after:
            return None
        target = sym_of(den_rest)
        return (loss, target) if loss and target else None
    if tokens[0] in (r"\nabla", r"\partial") and len(tokens) > 2 and tokens[1] == "_":
        p = Parser(list(tokens[2:]))
        try:
            target_tokens = p.group_tokens()
        except LatexError:
            return None
        loss = _loss_of(p.tokens[p.pos:])
        target = sym_of(target_tokens)
        return (loss, target) if loss and target else None
    if "/" in tokens:
        k = tokens.index("/")
        num_rest, den_rest = _differential(tokens[:k]), _differential(tokens[k + 1:])
        if num_rest and den_rest:
            loss, target = _loss_of(num_rest), sym_of(den_rest)
            return (loss, target) if loss and target else None
        return None
    if tokens[0] == "d" and len(tokens) > 1:  # dW^{[1]}: Andrew Ng's shorthand
        target = sym_of(tokens[1:])
        if target is not None and target.base in ("W", "w", "b"):
            return Sym("L"), target
    return None

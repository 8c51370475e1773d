"""``--where``: a tiny, safe expression language over a combination's parameters.

Nothing of Python is evaluated: the text is tokenized and parsed here into a tree
of tuples, and the tree is interpreted over the parameter values. Grammar (lowest
precedence first)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/" | "%") unary)*
    unary   := "-" unary | atom
    atom    := NUMBER | STRING | "true" | "false" | NAME | "(" expr ")"

Names are the strategy's parameters (every declared one, not only those on the
grid). Numbers compare with numbers, text with text (quoted '…' or "…"), booleans
with ``==``/``!=``; anything else, an unknown name ("did you mean"), a division by
zero or a result that is not true/false is a ConfigError naming the expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Final

from engine.errors import ConfigError
from engine.state.actions import suggest

Value = int | float | str | bool
Node = tuple[object, ...]

_TOKEN: Final = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|[<>+\-*/%()]))"
)
_KEYWORDS: Final = frozenset({"and", "or", "not", "true", "false"})
_COMPARE: Final = ("<", "<=", ">", ">=", "==", "!=")
MAX_LENGTH: Final = 1000  # characters: a filter, not a program


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # num, str, name, op, kw, end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            bad = text[pos:].lstrip()[:1]
            raise ConfigError(f"--where {text!r}: unexpected {bad!r} at column {pos + 1}")
        kind, word = m.lastgroup, m.group(m.lastgroup)
        column = m.start(kind) + 1
        if kind == "name" and word in _KEYWORDS:
            kind = "kw"
        out.append(_Tok(kind, word, column))
        pos = m.end()
    out.append(_Tok("end", "end of text", len(text) + 1))
    return out


class _Parser:
    """Recursive descent over the tokens; each method returns a node."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def fail(self, what: str) -> ConfigError:
        tok = self.toks[self.i]
        return ConfigError(
            f"--where {self.text!r}: {what}, found {tok.text!r} at column {tok.pos}"
        )

    def peek(self, *texts: str) -> bool:
        tok = self.toks[self.i]
        return tok.kind in ("op", "kw") and tok.text in texts

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr()
        if self.toks[self.i].kind != "end":
            raise self.fail("expected an operator or the end")
        return node

    def _chain(self, sub: Callable[[], Node], *ops: str) -> Node:
        node = sub()
        while self.peek(*ops):
            node = (self.take().text, node, sub())
        return node

    def expr(self) -> Node:
        return self._chain(self.and_, "or")

    def and_(self) -> Node:
        return self._chain(self.not_, "and")

    def not_(self) -> Node:
        if self.peek("not"):
            self.take()
            return ("not", self.not_())
        return self.compare()

    def compare(self) -> Node:
        node = self.sum()
        if self.peek(*_COMPARE):
            node = (self.take().text, node, self.sum())
            if self.peek(*_COMPARE):
                raise self.fail("chained comparisons are not supported; join them with 'and'")
        return node

    def sum(self) -> Node:
        return self._chain(self.product, "+", "-")

    def product(self) -> Node:
        return self._chain(self.unary, "*", "/", "%")

    def unary(self) -> Node:
        if self.peek("-"):
            self.take()
            return ("neg", self.unary())
        return self.atom()

    def atom(self) -> Node:
        tok = self.toks[self.i]
        if tok.kind == "num":
            self.take()
            number = float(tok.text)
            return ("const", int(tok.text) if tok.text.isdigit() else number)
        if tok.kind == "str":
            self.take()
            return ("const", tok.text[1:-1])
        if tok.kind == "kw" and tok.text in ("true", "false"):
            self.take()
            return ("const", tok.text == "true")
        if tok.kind == "name":
            self.take()
            return ("name", tok.text)
        if self.peek("("):
            self.take()
            node = self.expr()
            if not self.peek(")"):
                raise self.fail("expected ')'")
            self.take()
            return node
        raise self.fail("expected a number, a text, true/false, a parameter or '('")


def _names(node: Node) -> set[str]:
    if node[0] == "name":
        return {str(node[1])}
    if node[0] == "const":
        return set()
    return set().union(*(_names(n) for n in node[1:] if isinstance(n, tuple)))


@dataclass(frozen=True, slots=True)
class Where:
    """A parsed ``--where`` filter; ``holds(values)`` evaluates it."""

    text: str
    tree: Node

    @property
    def names(self) -> set[str]:
        """The parameter names it reads."""
        return _names(self.tree)

    def check_names(self, declared: Collection[str]) -> None:
        """ConfigError for a name that is not a declared parameter."""
        for name in sorted(self.names):
            if name not in declared:
                raise ConfigError(
                    f"--where {self.text!r}: {name!r} is not a parameter of the strategy"
                    f"{suggest(name, declared)}; declared: {', '.join(sorted(declared))}"
                )

    def holds(self, values: Mapping[str, Value]) -> bool:
        """True when the filter holds for ``values``; ConfigError when it cannot be
        evaluated (types, division by zero) or is not a true/false value."""
        result = _Eval(self.text, values).run(self.tree)
        if not isinstance(result, bool):
            raise ConfigError(
                f"--where {self.text!r}: gives {result!r}, not true/false; "
                "compare it, e.g. 'fast < slow'"
            )
        return result


def parse_where(text: str) -> Where:
    """Parse ``text`` (ConfigError naming the column of the first problem)."""
    if len(text) > MAX_LENGTH:
        raise ConfigError(f"--where: longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ConfigError("--where: empty expression; e.g. --where 'fast < slow'")
    return Where(text, _Parser(text).parse())


class _Eval:
    def __init__(self, text: str, values: Mapping[str, Value]) -> None:
        self.text, self.values = text, values

    def fail(self, what: str) -> ConfigError:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return ConfigError(f"--where {self.text!r}: {what} (with {shown})")

    def run(self, node: Node) -> Value:
        op = node[0]
        if op == "const":
            return node[1]  # type: ignore[return-value]
        if op == "name":
            return self.values[str(node[1])]
        if op == "not":
            return not self.boolean(node[1], "not")
        if op in ("and", "or"):
            left = self.boolean(node[1], str(op))
            if left == (op == "or"):  # short-circuit
                return left
            return self.boolean(node[2], str(op))
        if op == "neg":
            return -self.number(node[1], "-")
        if op in ("==", "!="):
            a, b = self.run(node[1]), self.run(node[2])  # type: ignore[arg-type]
            if _kind(a) != _kind(b):
                raise self.fail(f"cannot compare {a!r} with {b!r}")
            return (a == b) == (op == "==")
        if op in _COMPARE:
            return self.ordered(str(op), node[1], node[2])  # type: ignore[arg-type]
        return self.arithmetic(str(op), node[1], node[2])  # type: ignore[arg-type]

    def boolean(self, node: object, op: str) -> bool:
        value = self.run(node)  # type: ignore[arg-type]
        if not isinstance(value, bool):
            raise self.fail(f"{op!r} needs true/false, got {value!r}")
        return value

    def number(self, node: object, op: str) -> int | float:
        value = self.run(node)  # type: ignore[arg-type]
        if _kind(value) != "number":
            raise self.fail(f"{op!r} needs numbers, got {value!r}")
        return value  # type: ignore[return-value]

    def ordered(self, op: str, left: Node, right: Node) -> bool:
        a, b = self.run(left), self.run(right)
        if _kind(a) != _kind(b) or _kind(a) == "boolean":
            raise self.fail(f"cannot order {a!r} and {b!r} with {op!r}")
        x, y = a, b
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]  # type: ignore[operator]

    def arithmetic(self, op: str, left: Node, right: Node) -> int | float:
        a, b = self.number(left, op), self.number(right, op)
        if op in ("/", "%") and b == 0:
            raise self.fail(f"division by zero in {op!r}")
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return a / b if op == "/" else a % b


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "text"

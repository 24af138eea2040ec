"""A symbolic pickle machine: it follows the opcodes (pickletools.genops) and builds inert values, never objects.

Where a real unpickler would import `os.system` and call it, this machine pushes a `Global("os", "system")` and
a `Call(...)` node. That resolves STACK_GLOBAL operands through the memo exactly, and lets a PyTorch checkpoint's
tensor table be read back from the `_rebuild_tensor_v2(...)` calls without torch.
"""

from __future__ import annotations

import pickletools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

MAX_OPS = 50_000_000  # a 1 GB pickle of tiny ops; beyond that something is wrong


@dataclass(frozen=True)
class Global:
    """A name the pickle imports (module and attribute), as GLOBAL, INST or STACK_GLOBAL spell it."""

    module: str
    name: str

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


class _Unknown:
    """A value the machine cannot know without running code (an EXT code, a buffer, a missing memo slot)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()
_MARK = object()


@dataclass(eq=False)
class Call:
    """What REDUCE, NEWOBJ, OBJ or INST would do: call `func` with `args`; BUILD and SETITEMS add state and items."""

    func: Any
    args: Any
    state: Any = None
    items: list[tuple[Any, Any]] = field(default_factory=list)
    appended: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class PDict:
    """A pickled dict, kept as pairs: keys may be symbolic and unhashable."""

    items: list[tuple[Any, Any]] = field(default_factory=list)


@dataclass(eq=False)
class PSet:
    items: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class PersistentRef:
    """A persistent id (PERSID/BINPERSID): how PyTorch points at tensor storage kept outside the pickle."""

    pid: Any


@dataclass
class Import:
    """One import the pickle asks for, with the opcode that asks and its byte position."""

    target: Global | None  # None when STACK_GLOBAL's operands are not constant strings
    opcode: str
    pos: int
    called: bool = False  # REDUCE/NEWOBJ/OBJ/INST applied to it somewhere


@dataclass
class Trace:
    """The outcome of following one pickle: its imports, the root value, nested pickles found in byte strings."""

    imports: list[Import] = field(default_factory=list)
    root: Any = None
    anomalies: list[str] = field(default_factory=list)
    nested: list[bytes] = field(default_factory=list)
    end: int = 0  # byte offset just after STOP, relative to where this pickle started
    opcodes: int = 0


_CONSTANT_OPS = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING", "SHORT_BINSTRING",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE",
    "BINUNICODE8", "FLOAT", "BINFLOAT",
}  # fmt: skip


def looks_like_pickle(data: bytes) -> bool:
    """True for bytes that start like a protocol 2-5 pickle (PROTO n): what torch, numpy and joblib write."""
    return len(data) >= 3 and data[0] == 0x80 and 2 <= data[1] <= 5


class Machine:
    """Follow one pickle from a stream; `run()` returns a Trace and never raises on malformed input."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.trace = Trace()
        self._globals_by_id: dict[int, Import] = {}

    def run(self) -> Trace:
        start = self.stream.tell() if self.stream.seekable() else 0
        try:
            for opcode, arg, pos in self._ops():
                self.trace.opcodes += 1
                if opcode.name == "STOP":
                    self.trace.root = self._pop()
                    self.trace.end = self.stream.tell() - start if self.stream.seekable() else 0
                    return self.trace
                self._step(opcode.name, arg, pos if pos is not None else -1)
        except (ValueError, EOFError, IndexError, UnicodeDecodeError, OverflowError) as exc:
            self.trace.anomalies.append(f"the pickle is malformed ({exc})")
            return self.trace
        self.trace.anomalies.append("the pickle ends without a STOP opcode")
        return self.trace

    def _ops(self) -> Iterator[tuple[Any, Any, int | None]]:
        for n, item in enumerate(pickletools.genops(self.stream)):
            if n >= MAX_OPS:
                self.trace.anomalies.append(f"more than {MAX_OPS:,} opcodes: stopped reading")
                return
            yield item

    # -- the stack -------------------------------------------------------------------------------------

    def _push(self, value: Any) -> None:
        self.stack.append(value)

    def _pop(self) -> Any:
        if not self.stack:
            self.trace.anomalies.append("pops an empty stack")
            return UNKNOWN
        value = self.stack.pop()
        if value is _MARK:
            self.trace.anomalies.append("pops a MARK as a value")
            return UNKNOWN
        return value

    def _top(self) -> Any:
        return self.stack[-1] if self.stack else UNKNOWN

    def _pop_mark(self) -> list[Any]:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is _MARK:
                items = self.stack[i + 1 :]
                del self.stack[i:]
                return items
        self.trace.anomalies.append("no MARK on the stack")
        items, self.stack = self.stack, []
        return items

    # -- imports ---------------------------------------------------------------------------------------

    def _import(self, target: Global | None, opcode: str, pos: int) -> Any:
        imp = Import(target, opcode, pos)
        self.trace.imports.append(imp)
        value: Any = target if target is not None else UNKNOWN
        if target is not None:
            self._globals_by_id[id(target)] = imp
        return value

    def _called(self, func: Any) -> None:
        imp = self._globals_by_id.get(id(func))
        if imp is not None:
            imp.called = True

    def _call(self, func: Any, args: Any) -> Call:
        self._called(func)
        return Call(func, args)

    # -- one opcode ------------------------------------------------------------------------------------

    def _step(self, name: str, arg: Any, pos: int) -> None:
        if name in _CONSTANT_OPS:
            if isinstance(arg, bytes | bytearray) and looks_like_pickle(bytes(arg[:3])):
                self.trace.nested.append(bytes(arg))
            self._push(arg)
        elif name in ("PROTO", "FRAME", "READONLY_BUFFER"):
            pass
        elif name == "NONE":
            self._push(None)
        elif name in ("NEWTRUE", "NEWFALSE"):
            self._push(name == "NEWTRUE")
        elif name == "EMPTY_LIST":
            self._push([])
        elif name == "EMPTY_TUPLE":
            self._push(())
        elif name == "EMPTY_DICT":
            self._push(PDict())
        elif name == "EMPTY_SET":
            self._push(PSet())
        elif name == "MARK":
            self._push(_MARK)
        elif name == "TUPLE":
            self._push(tuple(self._pop_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = [self._pop() for _ in range(n)]
            self._push(tuple(reversed(items)))
        elif name == "LIST":
            self._push(self._pop_mark())
        elif name == "DICT":
            flat = self._pop_mark()
            self._push(PDict(list(zip(flat[0::2], flat[1::2], strict=False))))
        elif name == "FROZENSET":
            self._push(PSet(self._pop_mark()))
        elif name == "APPEND":
            self._append([self._pop()])
        elif name == "APPENDS":
            self._append(self._pop_mark())
        elif name == "SETITEM":
            value, key = self._pop(), self._pop()
            self._setitems([(key, value)])
        elif name == "SETITEMS":
            flat = self._pop_mark()
            self._setitems(list(zip(flat[0::2], flat[1::2], strict=False)))
        elif name == "ADDITEMS":
            items = self._pop_mark()
            target = self._top()
            if isinstance(target, PSet):
                target.items.extend(items)
        elif name == "POP":
            if self.stack and self.stack[-1] is _MARK:
                self.stack.pop()
            else:
                self._pop()
        elif name == "POP_MARK":
            self._pop_mark()
        elif name == "DUP":
            self._push(self._top())
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[int(arg)] = self._top()
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self._top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in self.memo:
                self.trace.anomalies.append(f"reads memo slot {arg} that was never written")
            self._push(self.memo.get(int(arg), UNKNOWN))
        elif name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            target = self._import(Global(module, attr), name, pos)
            if name == "INST":
                self._push(self._call(target, tuple(self._pop_mark())))
            else:
                self._push(target)
        elif name == "STACK_GLOBAL":
            attr, module = self._pop(), self._pop()
            known = isinstance(module, str) and isinstance(attr, str)
            self._push(self._import(Global(module, attr) if known else None, name, pos))
        elif name == "OBJ":
            items = self._pop_mark()
            func = items[0] if items else UNKNOWN
            self._push(self._call(func, tuple(items[1:])))
        elif name == "NEWOBJ":
            args, cls = self._pop(), self._pop()
            self._push(self._call(cls, args))
        elif name == "NEWOBJ_EX":
            kwargs, args, cls = self._pop(), self._pop(), self._pop()
            self._push(self._call(cls, (args, kwargs)))
        elif name == "REDUCE":
            args, func = self._pop(), self._pop()
            self._push(self._call(func, args))
        elif name == "BUILD":
            state = self._pop()
            target = self._top()
            if isinstance(target, Call):
                target.state = state
        elif name == "PERSID":
            self._push(PersistentRef(arg))
        elif name == "BINPERSID":
            self._push(PersistentRef(self._pop()))
        elif name in ("EXT1", "EXT2", "EXT4"):
            self._push(self._import(None, f"{name} (extension code {arg})", pos))
        elif name == "NEXT_BUFFER":
            self._push(UNKNOWN)
        else:
            self.trace.anomalies.append(f"unhandled opcode {name}")

    def _append(self, values: list[Any]) -> None:
        target = self._top()
        if isinstance(target, list):
            target.extend(values)
        elif isinstance(target, Call):
            target.appended.extend(values)

    def _setitems(self, pairs: list[tuple[Any, Any]]) -> None:
        target = self._top()
        if isinstance(target, PDict | Call):
            target.items.extend(pairs)


def follow(stream: IO[bytes]) -> Trace:
    """Follow one pickle from the stream's current position to its STOP opcode."""
    return Machine(stream).run()

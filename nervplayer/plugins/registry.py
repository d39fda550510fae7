"""Registries of plugin entries, one per kind, with lookup, listing and parameter validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import PluginError
from ..sorting import natural_key
from .api import API_VERSION, KINDS, Kind, Param, PluginEntry


@dataclass
class LoadRecord:
    """What happened when one plugin module was loaded (shown by ``nervplayer plugins`` and the GUI)."""

    name: str
    source: str
    status: str  # "ok", "failed", "skipped"
    error: str = ""
    entries: list[str] = field(default_factory=list)


class Registry:
    """All plugin entries, keyed by kind and id, plus the load report."""

    def __init__(self) -> None:
        self._entries: dict[Kind, dict[str, PluginEntry]] = {k: {} for k in KINDS}
        self._aliases: dict[Kind, dict[str, str]] = {k: {} for k in KINDS}
        self.report: list[LoadRecord] = []

    def add(self, entry: PluginEntry) -> None:
        if entry.kind not in KINDS:
            raise PluginError(f"unknown plugin kind {entry.kind!r}")
        if entry.api_version > API_VERSION:
            raise PluginError(
                f"{entry.kind} {entry.id!r} needs plugin API {entry.api_version}, this nervplayer has {API_VERSION}"
            )
        table = self._entries[entry.kind]
        for name in (entry.id, *entry.aliases):
            existing = table.get(self._aliases[entry.kind].get(name, name))
            if existing is not None:
                raise PluginError(
                    f"{entry.kind} {name!r} is already registered by {existing.source} ({existing.module})"
                )
        table[entry.id] = entry
        for alias in entry.aliases:
            self._aliases[entry.kind][alias] = entry.id

    def get(self, kind: Kind, id: str) -> PluginEntry:
        key = self._aliases[kind].get(id, id)
        try:
            return self._entries[kind][key]
        except KeyError:
            raise PluginError(f"unknown {kind} {id!r}; available: {', '.join(self.ids(kind)) or 'none'}") from None

    def ids(self, kind: Kind) -> list[str]:
        return sorted(self._entries[kind], key=natural_key)

    def entries(self, kind: Kind | None = None) -> list[PluginEntry]:
        kinds = KINDS if kind is None else (kind,)
        return [self._entries[k][i] for k in kinds for i in sorted(self._entries[k], key=natural_key)]

    def resolve_params(self, kind: Kind, id: str, params: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with ``params``, checked against the declared names, types and ranges."""
        entry = self.get(kind, id)
        out = entry.defaults()
        declared = {p.name: p for p in entry.params}
        for name, value in (params or {}).items():
            if name not in declared:
                raise PluginError(
                    f"{kind} {entry.id!r} has no parameter {name!r}; it takes: {', '.join(declared) or 'none'}"
                )
            out[name] = _coerce(declared[name], value, f"{kind} {entry.id!r}")
        return out

    def check_params(self, kind: Kind, id: str, params: dict[str, Any] | None) -> dict[str, Any]:
        """Only the given ``params``, checked and coerced like :meth:`resolve_params` (no defaults filled in)."""
        resolved = self.resolve_params(kind, id, params)
        return {name: resolved[name] for name in params or {}}

    def create(self, kind: Kind, id: str, params: dict[str, Any] | None = None) -> Any:
        entry = self.get(kind, id)
        return entry.factory(**self.resolve_params(kind, id, params))

    def factory(self, kind: Kind, id: str, params: dict[str, Any] | None = None) -> Callable[[], Any]:
        """A zero-argument factory (e.g. one fresh activation module per layer)."""
        entry = self.get(kind, id)
        resolved = self.resolve_params(kind, id, params)
        return lambda: entry.factory(**resolved)


def _coerce(p: Param, value: Any, owner: str) -> Any:
    t = p.type
    try:
        if t is bool and isinstance(value, str):
            if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(value)
            v: Any = value.lower() in ("1", "true", "yes")
        else:
            v = t(value) if t in (int, float, str, bool) else value
            if t is int and float(value) != v:
                raise ValueError(value)
    except (TypeError, ValueError):
        raise PluginError(f"{owner}: parameter {p.name!r} must be {t.__name__}, got {value!r}") from None
    if p.choices is not None and v not in p.choices:
        raise PluginError(f"{owner}: parameter {p.name!r} must be one of {list(p.choices)}, got {v!r}")
    if p.minimum is not None and v < p.minimum or p.maximum is not None and v > p.maximum:
        raise PluginError(f"{owner}: parameter {p.name!r} must be in [{p.minimum}, {p.maximum}], got {v!r}")
    return v


class ModuleRegistrar:
    """The :class:`~nervplayer.plugins.api.Registrar` handed to one plugin module's ``register``.

    Entries are only collected here; the loader validates them all and adds them together, so a module that
    fails half-way registers nothing.
    """

    def __init__(self, source: str, module: str) -> None:
        self.source = source
        self.module = module
        self.collected: list[PluginEntry] = []

    def _add(
        self,
        kind: Kind,
        id: str,
        factory: Callable[..., Any],
        description: str,
        params: tuple[Param, ...] | list[Param],
        version: str,
        aliases: tuple[str, ...],
    ) -> None:
        if not isinstance(id, str) or not id:
            raise PluginError(f"{kind} id must be a non-empty string, got {id!r}")
        if not callable(factory):
            raise PluginError(f"{kind} {id!r}: factory is not callable")
        self.collected.append(
            PluginEntry(
                kind=kind,
                id=id,
                factory=factory,
                description=description,
                params=tuple(params),
                version=version,
                source=self.source,
                module=self.module,
                aliases=tuple(aliases),
            )
        )

    def activation(
        self,
        id: str,
        factory: Callable[..., Any],
        *,
        description: str,
        params: tuple[Param, ...] | list[Param] = (),
        version: str = "1.0",
        aliases: tuple[str, ...] = (),
    ) -> None:
        self._add("activation", id, factory, description, params, version, aliases)

    def loss(
        self,
        id: str,
        factory: Callable[..., Any],
        *,
        description: str,
        params: tuple[Param, ...] | list[Param] = (),
        version: str = "1.0",
        aliases: tuple[str, ...] = (),
    ) -> None:
        self._add("loss", id, factory, description, params, version, aliases)

    def scheduler(
        self,
        id: str,
        factory: Callable[..., Any],
        *,
        description: str,
        params: tuple[Param, ...] | list[Param] = (),
        version: str = "1.0",
        aliases: tuple[str, ...] = (),
    ) -> None:
        self._add("scheduler", id, factory, description, params, version, aliases)

    def model(
        self,
        id: str,
        factory: Callable[..., Any],
        *,
        description: str,
        params: tuple[Param, ...] | list[Param] = (),
        version: str = "1.0",
        aliases: tuple[str, ...] = (),
    ) -> None:
        self._add("model", id, factory, description, params, version, aliases)

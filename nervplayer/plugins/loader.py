"""One loader, three sources: the built-in plugin folder, the ``nervplayer.plugins`` entry-point group, and
the user plugin folder (platformdirs' user data dir / plugins).

Each plugin module is imported and registered on its own; a failure is recorded in the registry's load report
and never stops the program. Plugins are never loaded from the working directory, from beside an opened video
or from inside a ``.nerv`` file.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import traceback
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Iterable

from ..errors import PluginError
from ..paths import plugin_dir
from .api import PluginEntry
from .registry import LoadRecord, ModuleRegistrar, Registry

ENTRY_POINT_GROUP = "nervplayer.plugins"
_NAMESPACE = "nervplayer._loaded_plugins"


def builtin_plugin_dir() -> Path:
    """The built-in plugins: ``nervplayer/_builtin_plugins`` in a wheel or bundle, ``plugins/`` in a checkout."""
    pkg = Path(__file__).resolve().parent.parent
    installed = pkg / "_builtin_plugins"
    return installed if installed.is_dir() else pkg.parent / "plugins"


def user_plugin_dir() -> Path:
    return plugin_dir()


def _plugin_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob("*.py") if not p.name.startswith("_")]
    files += [p / "__init__.py" for p in folder.iterdir() if (p / "__init__.py").is_file()]
    return sorted(files)


def _import_file(path: Path, tag: str) -> ModuleType:
    """Import a plugin file under a private module name that cannot collide with anything on sys.path."""
    stem = path.parent.name if path.name == "__init__.py" else path.stem
    name = f"{_NAMESPACE}.{tag}.{stem}"
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(path.parent)] if path.name == "__init__.py" else None
    )
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _smoke_test(entry: PluginEntry, registry: Registry) -> None:
    """A cheap call on CPU so a broken plugin is caught at load, not in the middle of a fit."""
    import torch

    if entry.kind == "model":
        _smoke_test_model(entry)
        return
    made = entry.factory(**entry.defaults())
    if entry.kind == "activation":
        y = made(torch.linspace(-2, 2, 8))
        if not isinstance(y, torch.Tensor) or y.shape != (8,):
            raise PluginError(f"activation {entry.id!r} must map a tensor to a tensor of the same shape")
    elif entry.kind == "loss":
        g = torch.Generator().manual_seed(0)
        a, b = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
        v = made(a, b)
        if not isinstance(v, torch.Tensor) or v.numel() != 1 or not torch.isfinite(v):
            raise PluginError(f"loss {entry.id!r} must return a finite scalar tensor")
    else:
        for e in (0.0, 5.0, 9.99):
            lr = made(e, 10, 1e-3)
            if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr < 0:
                raise PluginError(f"scheduler {entry.id!r} must return a non-negative float learning rate")


def _smoke_test_model(entry: PluginEntry) -> None:
    """Build the model at an odd small size, decode two frames and check their shape."""
    import torch

    from .api import Frames, ModelArchitecture

    arch = entry.factory()
    if not isinstance(arch, ModelArchitecture):
        raise PluginError(f"model {entry.id!r}: the factory must return a ModelArchitecture")
    frames = Frames(27, 43, 4)
    net = arch.build(frames, arch.configure(frames, {}, 0.25), torch.nn.SiLU)
    if getattr(net, "content_adaptive", False) and not callable(getattr(net, "encode_latents", None)):
        raise PluginError(f"model {entry.id!r} is content-adaptive but has no encode_latents")
    with torch.no_grad():
        out = net.eval()(torch.tensor([0.0, 0.5]))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 3, 27, 43):
        raise PluginError(
            f"model {entry.id!r} must decode t [2] to frames [2, 3, 27, 43], got {tuple(getattr(out, 'shape', ()))}"
        )


def register_module(registry: Registry, module: ModuleType, name: str, source: str) -> LoadRecord:
    """Run ``module.register`` and add its entries, all or nothing; failures become a record."""
    record = LoadRecord(name=name, source=source, status="ok")
    try:
        register = getattr(module, "register", None)
        if not callable(register):
            raise PluginError("module has no register(r) function")
        registrar = ModuleRegistrar(source, name)
        register(registrar)
        if not registrar.collected:
            raise PluginError("register(r) added nothing")
        staging = Registry()
        for entry in registrar.collected:
            staging.add(entry)
            _smoke_test(entry, staging)
        for entry in registrar.collected:
            registry.add(entry)
        record.entries = [f"{e.kind}:{e.id}" for e in registrar.collected]
    except Exception as e:  # a plugin's failure must never stop the program
        record.status, record.error = "failed", _describe(e)
    registry.report.append(record)
    return record


def load_folder(registry: Registry, folder: Path, source: str) -> None:
    for path in _plugin_files(folder):
        name = path.parent.name if path.name == "__init__.py" else path.stem
        try:
            module = _import_file(path, source.split(":")[0].replace("-", "_"))
        except Exception as e:
            registry.report.append(
                LoadRecord(name=name, source=f"{source}:{path}", status="failed", error=_describe(e))
            )
            continue
        register_module(registry, module, name, f"{source}:{path}" if source != "builtin" else "builtin")


def load_entry_points(registry: Registry, entry_points: Iterable[metadata.EntryPoint] | None = None) -> None:
    eps = metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
    for ep in eps:
        dist = getattr(getattr(ep, "dist", None), "name", None) or ep.value
        source = f"entry-point:{dist}"
        try:
            module = ep.load()
        except Exception as e:
            registry.report.append(LoadRecord(name=ep.name, source=source, status="failed", error=_describe(e)))
            continue
        register_module(registry, module, ep.name, source)


def load_plugins(safe_mode: bool = False, user_dir: Path | None = None) -> Registry:
    """A fresh registry with the built-ins, then (unless ``safe_mode``) entry points and the user folder."""
    registry = Registry()
    load_folder(registry, builtin_plugin_dir(), "builtin")
    if safe_mode:
        registry.report.append(LoadRecord(name="third-party and user plugins", source="safe mode", status="skipped"))
        return registry
    load_entry_points(registry)
    load_folder(registry, user_dir if user_dir is not None else user_plugin_dir(), "user")
    return registry


def _describe(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(e).__name__}: {e}{where}"

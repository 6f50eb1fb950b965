"""Reading ``lake_config/``: each spec file over its folder's ``_defaults.yaml``, then checks across datasets
(master data, grants)."""

from __future__ import annotations

from pathlib import Path


from lakehouse.config.access import access_file, check_grants, load_access
from lakehouse.config.spec.datasets import GoldDataset, SourceDataset, DATASET_ADAPTER
from lakehouse.config.spec.rules import Reference
from lakehouse.config.spec.sources import Conform
from lakehouse.core.errors import ConfigError
from lakehouse.core.yamlfile import read_mapping, validated


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict:
    return read_mapping(path)


def load_dataset_file(path: Path, defaults: dict | None = None) -> SourceDataset | GoldDataset:
    """Load and validate one spec file; errors name the file and the field."""
    raw = _deep_merge(defaults or {}, _read_yaml(path))
    model = GoldDataset if raw.get("layer") == "gold" else SourceDataset
    spec = validated(model, raw, path)
    if spec.name != path.stem:
        raise ConfigError(f"{path}: field 'name': {spec.name!r} must equal the file name {path.stem!r}")
    return spec


class Specs:
    """Every dataset spec under one config directory, cross-checked."""

    def __init__(self, datasets: dict[str, SourceDataset | GoldDataset], files: dict[str, Path]):
        self.datasets = datasets
        self.files = files

    def __getitem__(self, name: str) -> SourceDataset | GoldDataset:
        try:
            return self.datasets[name]
        except KeyError:
            known = ", ".join(sorted(self.datasets)) or "none"
            raise ConfigError(f"no dataset named {name!r} in lake_config/datasets (known: {known})") from None

    def sources(self, domain: str | None = None) -> list[SourceDataset]:
        return [d for d in self.datasets.values()
                if isinstance(d, SourceDataset) and (domain is None or d.domain == domain)]

    def golds(self, domain: str | None = None) -> list[GoldDataset]:
        return [d for d in self.datasets.values()
                if isinstance(d, GoldDataset) and (domain is None or d.domain == domain)]

    @property
    def domains(self) -> list[str]:
        return sorted({d.domain for d in self.datasets.values()})


_loaded: dict[tuple, "Specs"] = {}


def load_specs(config_dir: Path | None = None) -> Specs:
    """Load every ``datasets/**/<name>.yaml``, merging each folder's ``_defaults.yaml``.

    ``LAKE_DATASETS_DIR`` points at another datasets folder (tests and benchmarks
    use their own specs with the same environments).
    """
    import os

    from lakehouse.core.settings import CONFIG_DIR

    if config_dir is None and os.environ.get("LAKE_DATASETS_DIR"):
        root = Path(os.environ["LAKE_DATASETS_DIR"])
    else:
        root = Path(config_dir or CONFIG_DIR) / "datasets"
    if not root.is_dir():
        raise ConfigError(f"{root}: no datasets folder")
    other = sorted(root.rglob("*.yml"))
    if other:  # a spec that is never loaded is a dataset that silently does not exist
        raise ConfigError(f"{other[0]}: spec files end in .yaml; rename it to {other[0].with_suffix('.yaml').name}")
    access_dir = None if config_dir is None else Path(config_dir)  # access.yaml: beside datasets/ of config_dir
    # one parse per process while no file changes (a `lake run` step or a job asks several times)
    stamp = (str(root), str(access_dir), *[(str(p), p.stat().st_mtime_ns, p.stat().st_size)
                                          for p in sorted(root.rglob("*.yaml")) + [access_file(access_dir)]
                                          if p.exists()])
    if stamp in _loaded:
        return _loaded[stamp]
    datasets: dict[str, SourceDataset | GoldDataset] = {}
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*.yaml")):
        if path.name.startswith("_"):
            continue
        defaults: dict = {}
        for folder in reversed(path.relative_to(root).parents):  # outermost first
            candidate = root / folder / "_defaults.yaml"
            if candidate.exists():
                defaults = _deep_merge(defaults, _read_yaml(candidate))
        spec = load_dataset_file(path, defaults)
        if spec.name in datasets:
            raise ConfigError(f"{path}: field 'name': {spec.name!r} is already defined in {files[spec.name]}")
        datasets[spec.name] = spec
        files[spec.name] = path
    for name, spec in datasets.items():
        if isinstance(spec, SourceDataset):
            for i, col in enumerate(spec.columns):
                if col.conform is not None:
                    _check_master(datasets, f"{files[name]}: field 'columns[{i}].conform", col.conform)
            for i, rule in enumerate(spec.quality):
                if rule.reference is not None:
                    _check_master(datasets, f"{files[name]}: field 'quality[{i}].reference", rule.reference)
        if isinstance(spec, GoldDataset):
            for i, dep in enumerate(spec.depends_on):
                if not isinstance(datasets.get(dep), SourceDataset):
                    raise ConfigError(f"{files[name]}: field 'depends_on[{i}]': {dep!r} is not a source dataset")
    check_grants(datasets, files, load_access(access_dir), access_file(access_dir))
    _loaded.clear()  # only the newest state of the files is worth keeping
    _loaded[stamp] = Specs(datasets, files)
    return _loaded[stamp]


def _check_master(datasets: dict, where: str, ref: Conform | Reference) -> None:
    """A conform or reference names a source dataset and one of its columns."""
    master = datasets.get(ref.dataset)
    if not isinstance(master, SourceDataset):
        raise ConfigError(f"{where}.dataset': {ref.dataset!r} is not a source dataset")
    if ref.column not in [c.name for c in master.columns]:
        raise ConfigError(f"{where}.column': {ref.dataset} has no column {ref.column!r}")


def json_schema() -> dict:
    """JSON Schema of a dataset spec file, for editors and `lake spec schema`."""
    return DATASET_ADAPTER.json_schema()

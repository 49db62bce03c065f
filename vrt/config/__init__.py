"""Typed run configuration loaded from YAML."""

from vrt.config.loader import (
    apply_override,
    config_from_dict,
    config_hash,
    config_to_dict,
    config_to_yaml,
    load_config,
)
from vrt.config.schema import (
    BatchConfig,
    ComponentSpec,
    Config,
    DataConfig,
    EvalConfig,
    LossConfig,
    LossTerm,
    ModelConfig,
    TrainConfig,
)
from vrt.config.typecheck import ConfigError

__all__ = [
    "BatchConfig",
    "ComponentSpec",
    "Config",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "LossConfig",
    "LossTerm",
    "ModelConfig",
    "TrainConfig",
    "apply_override",
    "config_from_dict",
    "config_hash",
    "config_to_dict",
    "config_to_yaml",
    "load_config",
]

"""feedsync.yaml as plain data: the models, how the file is read, how problems are worded.

`from feedsync.config import Config, load_config` is the usual entry; the package has no
import of the pipeline, the sources or the rules (a test checks there are no import cycles).
"""

from feedsync.config.diagnostics import format_validation_errors
from feedsync.config.loading import expand_env, load_config, read_config_file
from feedsync.config.models import (
    DEFAULT_CONFIG_NAME,
    PUBLISH_SCHEMES,
    SOURCE_DEFAULT_KEYS,
    VIRTUAL_TARGETS,
    ChannelConfig,
    Config,
    FeedInfo,
    GuardConfig,
    JoinConfig,
    LocalInventoryConfig,
    MarketConfig,
    NotifyConfig,
    OutputConfig,
    PublishConfig,
    RetryConfig,
    SourceConfig,
    StoresConfig,
    SyncConfig,
    TableConfig,
    TranslateConfig,
)

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "PUBLISH_SCHEMES",
    "SOURCE_DEFAULT_KEYS",
    "VIRTUAL_TARGETS",
    "ChannelConfig",
    "Config",
    "FeedInfo",
    "GuardConfig",
    "JoinConfig",
    "LocalInventoryConfig",
    "MarketConfig",
    "NotifyConfig",
    "OutputConfig",
    "PublishConfig",
    "RetryConfig",
    "SourceConfig",
    "StoresConfig",
    "SyncConfig",
    "TableConfig",
    "TranslateConfig",
    "expand_env",
    "format_validation_errors",
    "load_config",
    "read_config_file",
]

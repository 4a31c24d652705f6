"""Which stages exist, what they read and write: the one topology both runtimes drive."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.alertpolicy import load_policy
from pipeline.monitoring.cusum import warm_up as warm_up_chart_design
from pipeline.sentiment import Scorer
from pipeline.settings import Settings
from pipeline.stages.alerting import AlertingStage
from pipeline.stages.base import Stage
from pipeline.stages.monitoring import (
    MonitorFeedStage,
    MonitoringStage,
    feed_inputs,
    monitor_config,
)
from pipeline.stages.scoring import SignalStage
from pipeline.stages.trigger import TriggerStage
from schemas.types import EVENT_TYPES

DEAD_LETTER = "dead-letter"
# A topic may carry more than one type (monitor-observations: single and coalesced).
TOPICS: tuple[str, ...] = tuple(dict.fromkeys(t.topic for t in EVENT_TYPES.values())) + (
    DEAD_LETTER,
)
TOPIC_TYPES: dict[str, str] = {}  # a topic's first (home) type
for _t in EVENT_TYPES.values():
    TOPIC_TYPES.setdefault(_t.topic, _t.name)
TOPIC_ACCEPTS: dict[str, frozenset[str]] = {
    topic: frozenset(t.name for t in EVENT_TYPES.values() if t.topic == topic)
    for topic in TOPIC_TYPES
}


@dataclass(frozen=True)
class Topology:
    stages: tuple[Stage, ...]

    def state_names(self) -> set[str]:
        return {name for stage in self.stages for name in stage.state_names}


def response_chart_on(settings: Settings) -> bool:
    """MONITOR_RESPONSE_CHART: on (default), off, or embedded (on for the embedded runtime
    only)."""
    wanted = settings.monitor_response_chart.strip().lower()
    return wanted in ("on", "1") or (wanted == "embedded" and settings.runtime != "kafka")


def build_topology(settings: Settings, scorer: Scorer) -> Topology:
    chart = response_chart_on(settings)
    # numpy/scipy for the charts' design now, before the runtime runs: not ~0.4 s in the
    # middle of the stream when the first chart finishes its warm-up.
    warm_up_chart_design()
    return Topology(
        stages=(
            TriggerStage(link_key=settings.link_key, policy=settings.invitation_policy()),
            SignalStage(scorer=scorer),
            AlertingStage(policy=load_policy(settings.alert_policy)),
            MonitorFeedStage(
                keep_links=not (settings.runtime == "kafka" and settings.kafka_seal),
                inputs=feed_inputs(chart),
            ),
            MonitoringStage(
                config=monitor_config(settings),
                response_chart=chart,
            ),
        )
    )


def scorer_for(settings: Settings) -> Scorer:
    """The sentiment model promoted into settings.data_dir/models, else the shipped one."""
    from pipeline.sentiment import load_scorer

    return load_scorer(settings.data_dir / "models")


def topology_for(settings: Settings, scorer: Scorer | None = None) -> Topology:
    """The topology both runtimes drive, built from the settings (one place for both)."""
    return build_topology(settings, scorer or scorer_for(settings))

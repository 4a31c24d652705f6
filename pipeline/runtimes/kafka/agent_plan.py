"""Which faust agents a worker runs, and which stages each runs on a record (issue 10).

One agent per stage handed a record of a topic that several stages read to each of them:
a contact went through faust's delivery, a queue, an ack and the offset bookkeeping three
times (trigger, signals, monitor-feed), and a signal twice more after a hop over
`scored-signals`. Here instead:

- **One agent per input topic group.** Stages that read a common topic share one agent
  (the connected groups of stages over their input topics), which runs, for each record,
  every stage that reads its topic, in topology order, each with its own states and
  outputs. A record is delivered, opened, decoded and acked once. Each stage still sees its
  inputs as one stream in partition order, as with an agent of its own.
- **Stateless stages run on what the group emits.** A stage without state that reads a
  topic the stages themselves write (alerting and monitor-feed on `scored-signals`,
  monitor-feed on `survey-invitations`) is run on the emitted event directly, in the same
  agent, after the stages of the input record; the topic is still written for its other
  readers (warehouse, dispatch, rebuild). A crash replays the input record and with it
  the whole chain, with the same deterministic ids, so the guarantees are unchanged. Only
  stateless stages: a stage's state lives in the partition of the record it reads, and
  a chained record is not read from its own partition (monitoring, keyed by service cell,
  keeps its own topic and agent).

Pure planning over the topology; the worker wires the plan into faust.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.stages.base import Stage
from pipeline.topology import Topology


@dataclass(frozen=True)
class AgentPlan:
    """One faust agent: the topics it subscribes to and the stages run per topic."""

    name: str
    topics: tuple[str, ...]  # logical input topics, in topology order
    readers: dict[str, tuple[Stage, ...]]  # topic -> stages run on its records, in order


def chained_readers(topology: Topology) -> dict[str, tuple[Stage, ...]]:
    """Topic -> the stateless stages run directly on events the stages emit to it."""
    written = {topic for stage in topology.stages for topic in stage.outputs}
    chained: dict[str, tuple[Stage, ...]] = {}
    for topic in sorted(written):
        readers = tuple(  # not a stage writing the topic itself: no loops
            s
            for s in topology.stages
            if topic in s.inputs and not s.state_names and topic not in s.outputs
        )
        if readers:
            chained[topic] = readers
    return chained


def subscriptions(topology: Topology) -> dict[str, tuple[str, ...]]:
    """Stage name -> the topics its agent reads for it (inputs it is not chained on)."""
    chained = chained_readers(topology)
    return {
        s.name: tuple(t for t in s.inputs if s.name not in {r.name for r in chained.get(t, ())})
        for s in topology.stages
    }


def plan_agents(topology: Topology) -> list[AgentPlan]:
    """Stages that read a common topic, grouped into one agent each (connected groups)."""
    subscribed = subscriptions(topology)
    groups: list[list[Stage]] = []
    for stage in topology.stages:
        if not subscribed[stage.name]:
            continue  # runs only on what other stages emit
        mine = set(subscribed[stage.name])
        joined = [g for g in groups if any(mine & set(subscribed[s.name]) for s in g)]
        merged = [s for g in joined for s in g] + [stage]
        groups = [g for g in groups if all(g is not j for j in joined)] + [merged]
    plans = []
    for group in groups:
        names = {s.name for s in group}
        ordered = [s for s in topology.stages if s.name in names]
        topics = tuple(dict.fromkeys(t for s in ordered for t in subscribed[s.name]))
        readers = {t: tuple(s for s in ordered if t in subscribed[s.name]) for t in topics}
        plans.append(AgentPlan("+".join(s.name for s in ordered), topics, readers))
    return plans


def consumed_topics(topology: Topology) -> list[str]:
    """The logical topics the workers' consumer group reads (and commits offsets of): the
    stages' inputs, less those only chained stages read. Consumer lag is watched on these."""
    return sorted({t for plan in plan_agents(topology) for t in plan.topics})

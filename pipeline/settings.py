"""All configuration in one place: environment variables with defaults for the embedded mode."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

PREFIX = "KLANTSIGNAAL_"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("klantsignaal-data")
    host: str = "127.0.0.1"
    port: int = 8000
    runtime: str = "embedded"  # "embedded" or "kafka"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = ""  # lets tests and staging share one cluster
    kafka_partitions: int = 4
    kafka_replication_factor: int = 1
    kafka_store: str = "memory://"  # faust table store; rocksdict:// keeps state on disk
    warehouse_url: str = ""  # empty: SQLite file in data_dir
    dispatch_url: str = ""  # address book of dispatch, kept apart from the warehouse
    api_token: str = ""  # empty: generated once and kept in data_dir/secrets.json
    pseudonym_key: str = ""  # HMAC key for klant pseudonyms; same rule as api_token
    # Previous pseudonym keys after a rotation, newest first, whitespace-separated (env or
    # secrets.json): citizens known under one keep that pseudonym (docs/privacy.md, Keys).
    pseudonym_keys_old: str = ""
    link_key: str = ""  # HMAC key for questionnaire link tokens; same rule
    public_url: str = ""  # base of questionnaire links; empty: http://host:port
    # Who is invited, how and when (quarantine, sampling, routes, delays, expiry, reminder):
    # a TOML file, see docs/invitation-policy.md; empty: the shipped defaults.
    invitation_policy_file: str = ""
    # Dispatch (docs/dispatch.md); SMTP_HOST, SMTP_PORT and MAIL_FROM are shared with the
    # notifications below. SMTP_HOST empty: no e-mail is sent (invitations expire).
    smtp_security: str = "none"  # none | starttls | tls
    smtp_user: str = ""
    smtp_password: str = ""
    sms_gateway_url: str = ""  # empty: no SMS is sent
    sms_gateway_token: str = ""  # sent as "Authorization: Bearer <token>" when set
    email_delay_seconds: int = -1  # >= 0 overrides the policy's e-mail delay; 0: at once
    dispatch_texts_file: str = ""  # sender name and texts of e-mail/SMS; empty: shipped
    dispatch_retry_seconds: int = 30  # first pause after a temporary failure; doubles
    ces_scale: int = 5
    max_body_bytes: int = 1_000_000
    max_batch_events: int = 1000
    log_level: str = "INFO"
    # Retention (docs/privacy.md): raw comments, closed alerts, addresses, the embedded log.
    retention_comments_days: int = 365
    retention_alerts_days: int = 730  # after closing
    retention_addresses_days: int = 30
    retention_log_days: int = 90
    retention_notifications_days: int = 30  # sent/given-up team and coordinator messages
    retention_state_days: int = 90  # stage state of a klant without activity (both runtimes)
    retention_interval_hours: int = 24  # how often `klantsignaal run` applies it
    alert_policy: str = ""  # path of an alert policy TOML; empty: the shipped default
    smtp_host: str = ""  # empty: no e-mail is sent
    smtp_port: int = 25
    mail_from: str = "klantsignaal@localhost"
    notifications_config: str = ""  # TOML: team -> e-mail recipients, webhook URLs
    notification_retry_seconds: int = 30  # first back-off; doubles per attempt, max 1 h
    notification_max_attempts: int = 10
    notification_scan_seconds: int = 60  # how often overdue alerts are looked for
    notification_max_age_hours: int = 48  # older new alerts (a replay) are not announced
    accounts_url: str = ""  # users, tokens, sessions; empty: SQLite file in data_dir
    inbox_url: str = ""  # caseworker inbox: status, notes, audit trail; empty: SQLite in data_dir
    session_hours: int = 10  # a staff session ends after this many hours
    frame_ancestors: str = ""  # space-separated origins that may frame our pages (widget)
    # Citizen pages (docs/questionnaire.md, docs/widget.md).
    revision_minutes: int = 60  # how long a citizen may change the answers
    rate_per_link: int = 30  # questionnaire requests per link per 10 minutes (burst)
    rate_per_address: int = 60  # citizen-page requests per client address per minute
    widget_rate_per_address: int = 20  # page-feedback posts per client address per minute
    widget_origins: str = ""  # comma-separated origins allowed to embed the widget (CORS)
    # Monitor (control charts per service and channel, see docs/monitoring.md).
    monitor_warmup_min: int = 300  # outcomes per chart before its baseline is trusted
    monitor_warmup_days: float = 14.0  # and at least this many days of them
    monitor_odds_ratio: float = 1.6  # the shift the charts are tuned to detect
    monitor_false_alarms_per_30d: float = 1.0  # design budget per service (target: <= 1)
    monitor_charts_per_service: int = 25  # charts sharing that budget (6 x 4 + website)
    monitor_arl0: float = 0.0  # fixed in-control run length per chart; 0: from volume
    monitor_baselines: str = ""  # configured baselines, e.g. "aandeel-detractors=0.2"
    monitor_response_days: float = 3.0  # invitations unanswered this long count as missed
    # The response-rate chart: on | off | embedded (on for the embedded runtime only).
    monitor_response_chart: str = "on"
    # Kafka workers: the monitor's observations coalesced per cell and run (on, default) or
    # sent one record each (off: while upgrading from workers that do not know the
    # coalesced type; docs/kafka.md, "Upgrading").
    monitor_coalesce: str = "on"
    # Public service-norm pages (/servicenormen, docs/service-norms.md): a TOML file with
    # the norm per service; empty (the default): no public pages.
    service_norms_file: str = ""
    # Kafka static group membership (group.instance.id), unique per worker: a restarted
    # worker takes its partitions back at once instead of after the session timeout.
    kafka_instance_id: str = ""
    # How long the worker's producer waits to fill a batch (ms): a few ms turn one produce
    # request per record into one per batch, at that much added latency.
    kafka_producer_linger_ms: int = 5
    # Bytes the worker's producer gathers per partition while a request is in flight
    # (aiokafka sends one request per broker at a time and makes a stage wait when a
    # partition's batch is full: 16 KiB, its default, is a few table values).
    kafka_producer_batch_bytes: int = 512 * 1024
    # Operations (docs/operations.md): log format, and the listener with /healthz, /readyz
    # and /metrics for worker, sink, dispatch, notifications and `run` (0: no listener).
    log_format: str = "text"  # text | json (one JSON object per line)
    ops_host: str = "127.0.0.1"
    ops_port: int = 0
    # Crypto-shredding on Kafka (docs/privacy.md): records and state of a klant sealed with
    # a key per klant from the key store; `privacy forget` deletes the key. 0: off.
    kafka_seal: int = 1
    keystore_url: str = ""  # per-klant keys; empty: SQLite file keys.db in data_dir
    # The web edge on Kafka (docs/kafka.md, "Guarantees"): 1 = a request of ONE event goes
    # on an idempotent producer without a transaction (acks=all, answered once
    # acknowledged; a producer that missed an acknowledgement is replaced, as kafka-python's
    # did not recover from a broker restart). 0: every request in a transaction (group
    # commit). Batches are always transactional.
    kafka_single_event_idempotent: int = 1
    # Key store or producer away inside a worker: retried in place this long (bounded
    # backoff), then the worker stops (exit code 75) rather than skip the record.
    kafka_outage_seconds: float = 300.0
    # After an assignment, answers wait until the contacts already on the log are processed
    # (pipeline/runtimes/kafka/context_first.py); a contacts partition making no progress
    # this long releases them anyway (logged).
    kafka_context_wait_seconds: float = 30.0
    # The key store's PostgreSQL (docs/kafka.md, "A key store that does not answer"): a
    # database that does not answer fails a call after these bounds instead of hanging it
    # (the worker then retries in place, as when it is down). 0 switches a bound off.
    keystore_connect_timeout_seconds: int = 5  # libpq connect_timeout (at least 2)
    keystore_statement_timeout_ms: int = 5000  # server-side statement_timeout
    keystore_call_timeout_seconds: float = 10.0  # client side: the call's connections cut
    keystore_keepalive_seconds: int = 10  # TCP keepalive idle and interval (3 probes)
    # The worker's producer max.request.size in bytes; 0: 4 x kafka_producer_batch_bytes,
    # at least 1,000,000 (2 MiB by default). A table change larger than this stops the
    # worker (docs/kafka.md, "A table change too large to send").
    kafka_producer_max_request_bytes: int = 0

    def __post_init__(self) -> None:
        if self.ces_scale not in (5, 7, 10):
            raise ValueError("KLANTSIGNAAL_CES_SCALE must be 5, 7 or 10")
        if self.runtime not in ("embedded", "kafka"):
            raise ValueError("KLANTSIGNAAL_RUNTIME must be 'embedded' or 'kafka'")
        if self.smtp_security not in ("none", "starttls", "tls"):
            raise ValueError("KLANTSIGNAAL_SMTP_SECURITY must be none, starttls or tls")
        if self.log_format not in ("text", "json"):
            raise ValueError("KLANTSIGNAAL_LOG_FORMAT must be text or json")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in cls.__dataclass_fields__.values():
            raw = env.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            if f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            elif f.type in ("Path", Path):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_secrets(self) -> Settings:
        """Fill empty secrets from data_dir/secrets.json, creating it (mode 0600) on first use."""
        missing = [n for n in ("api_token", "pseudonym_key", "link_key") if not getattr(self, n)]
        if not missing:
            return self._old_keys_from_file()
        if self.runtime == "kafka":
            # Every process must share the keys, or links and pseudonyms would not match.
            names = ", ".join(PREFIX + n.upper() for n in missing)
            raise ValueError(f"Kafka mode needs {names} set in the environment")
        path = self.data_dir / "secrets.json"
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        changed = False
        for name in missing:
            if name not in stored:
                stored[name] = secrets.token_urlsafe(32)
                changed = True
        old_keys = self.pseudonym_keys_old or stored.get("pseudonym_keys_old", "")
        if changed:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # Created 0600 from the start: never readable by others, not even briefly.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps(stored, indent=2))
        return replace(self, pseudonym_keys_old=old_keys, **{n: stored[n] for n in missing})

    def _old_keys_from_file(self) -> Settings:
        """Previous pseudonym keys from secrets.json when not in the environment."""
        path = self.data_dir / "secrets.json"
        if self.pseudonym_keys_old or self.runtime == "kafka" or not path.exists():
            return self
        stored = json.loads(path.read_text())
        return replace(self, pseudonym_keys_old=stored.get("pseudonym_keys_old", ""))

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def warehouse(self) -> str:
        return self.warehouse_url or f"sqlite:///{(self.data_dir / 'warehouse.db').resolve()}"

    @property
    def dispatch(self) -> str:
        return self.dispatch_url or f"sqlite:///{(self.data_dir / 'dispatch.db').resolve()}"

    @property
    def accounts(self) -> str:
        return self.accounts_url or f"sqlite:///{(self.data_dir / 'accounts.db').resolve()}"

    @property
    def keystore(self) -> str:
        return self.keystore_url or f"sqlite:///{(self.data_dir / 'keys.db').resolve()}"

    @property
    def inbox(self) -> str:
        return self.inbox_url or f"sqlite:///{(self.data_dir / 'inbox.db').resolve()}"

    @property
    def widget_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in self.widget_origins.split(",") if o.strip())

    def invitation_policy(self) -> Any:
        """The invitation policy file (or the shipped one), with the e-mail delay override."""
        from pipeline.invitation_policy import load_policy

        policy = load_policy(self.invitation_policy_file or None)
        delay = self.email_delay_seconds if self.email_delay_seconds >= 0 else None
        return policy.with_delay("email", delay)

    def topic(self, name: str) -> str:
        return self.kafka_topic_prefix + name
